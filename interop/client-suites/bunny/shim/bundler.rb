# Stands in for Bundler on the load path (rspec -I shim): bunny's spec_helper calls
# Bundler.require(:default, :test), which needs a Gemfile and the gems installed through
# RubyGems. Here every library comes from Debian's packages or from the vendored lib/
# folders on the load path, and each spec requires what it uses itself, so there is
# nothing left for Bundler.require to do.
module Bundler
  def self.require(*_groups)
    []
  end
end
