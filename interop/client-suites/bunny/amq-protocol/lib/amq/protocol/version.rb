module AMQ
  module Protocol
    VERSION = "2.8.0"
  end # Protocol
end # AMQ
