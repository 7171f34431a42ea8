# -*- coding: utf-8 -*-

require "amq/protocol/version"
require "amq/protocol/client"
require "amq/protocol/channel_close"
