module RabbitMQ
  module HTTP
    class Client
      VERSION = "2.2.0"
    end
  end
end
