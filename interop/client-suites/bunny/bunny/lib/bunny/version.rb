# frozen_string_literal: true

module Bunny
  # @return [String] Version of the library
  VERSION = "3.2.0"
end
