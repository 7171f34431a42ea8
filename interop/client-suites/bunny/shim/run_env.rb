# Loaded first (rspec -r run_env) by ../run: points the vendored specs at a broker on any
# ports, leaves out the examples run names, and retries the one known race.

# Ports. connection_recovery_spec.rb connects with Bunny.new(...) without a port (so
# AMQ::Protocol::DEFAULT_PORT, 5672) and reaches the management API at the hard-coded
# http://127.0.0.1:15672; connection_recovery_during_negotiation_spec.rb already honours
# RABBITMQ_PORT. With RABBITMQ_PORT and RABBITMQ_MANAGEMENT_PORT set, 5672 and 15672 mean
# those ports, and the spec files stay as upstream wrote them.
require "amq/protocol/client"

if (port = ENV["RABBITMQ_PORT"])
  AMQ::Protocol.send(:remove_const, :DEFAULT_PORT)
  AMQ::Protocol.const_set(:DEFAULT_PORT, Integer(port))
end

if (mgmt = ENV["RABBITMQ_MANAGEMENT_PORT"])
  require "rabbitmq/http/client"
  module ManagementPort
    def initialize(endpoint, options = {})
      port = Integer(ENV["RABBITMQ_MANAGEMENT_PORT"])
      super(endpoint.sub(%r{\Ahttp://127\.0\.0\.1:15672\b}, "http://127.0.0.1:#{port}"), options)
    end
  end
  RabbitMQ::HTTP::Client.prepend(ManagementPort)
end

# Examples left out by full description (BUNNY_SPEC_EXCLUDE, one a line); ../run gives the
# reason for each.
excluded = ENV.fetch("BUNNY_SPEC_EXCLUDE", "").split("\n").map(&:strip).reject(&:empty?)
unless excluded.empty?
  RSpec.configure do |c|
    c.filter_run_excluding full_description: ->(d) { excluded.include?(d) }
  end
end

# Waiting for the recovery the spec means to wait for. Each example closes every connection
# with close_all_connections! (DELETE /api/connections/NAME, answered once the
# connection.close is written) and then polls `connections.any? && ch.open?`. That probe can
# pass before bunny's reader thread has even read the close: the closing connection is still
# listed (RabbitMQ lists it until it ends, and for seconds more while its stats catch up)
# and the channel still says open. The next call then meets the recovery half way, and
# `c.close(false)` at the end of such an example lands in the middle of it too: bunny
# raises ShutdownSignal into the thread that is recovering, which can leave a new connection
# open that nobody reads, listed until the next example closes it, so one failure used to
# drag the next examples down with it. Here close_all_connections! returns only once every
# session that was open before it has read the close and finished a recovery (a new
# transport, open, no recovery under way); a session that never does fails the example
# after 30 s. The spec's own probe and checks then run as written.
if defined?(RSpec)
  require "bunny"
  module TrackedSessions
    @sessions = []
    @lock = Mutex.new
    class << self
      def add(session) = @lock.synchronize { @sessions << session }
      def open = @lock.synchronize { @sessions.select(&:open?) }
      def clear = @lock.synchronize { @sessions.clear }
    end

    def initialize(*args, **kwargs, &block)
      super
      TrackedSessions.add(self)
    end
  end
  Bunny::Session.prepend(TrackedSessions)

  module WaitsForRecovery
    def close_all_connections!
      before = TrackedSessions.open.to_h { |session| [session, session.transport] }
      super
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
      until before.all? { |session, transport| !session.transport.equal?(transport) &&
                            !session.recovering_from_network_failure? && session.open? }
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise "a bunny session did not recover within 30 s of close_all_connections!"
        end
        sleep 0.01
      end
    end
  end

  RSpec.configure do |c|
    c.before(:each) do
      singleton_class.prepend(WaitsForRecovery) if respond_to?(:close_all_connections!, true)
    end
    c.after(:each) { TrackedSessions.clear }
  end
end

# Up to two more tries (BUNNY_SPEC_RETRY=1), with rspec-retry (which bunny's CI loads
# too), but only for the three ways the race explained in ../run shows: the spec's
# "recovered?" probe passes before bunny has handled the server's connection.close, and the
# next call finds the channel closed, the socket closed, or its reply never coming.
if ENV["BUNNY_SPEC_RETRY"] == "1"
  require "rspec/retry"
  require "bunny"
  RSpec.configure do |c|
    c.verbose_retry = true
    c.display_try_failure_messages = true
    c.default_retry_count = 3
    c.exceptions_to_retry = [Bunny::ChannelAlreadyClosed, Bunny::ConnectionClosedError, Timeout::Error]
  end
end
