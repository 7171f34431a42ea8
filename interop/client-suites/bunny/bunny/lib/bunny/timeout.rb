# frozen_string_literal: true

module Bunny
  Timeout = ::Timeout

  # Backwards compatibility
  # @private
  Timer = Timeout
end
