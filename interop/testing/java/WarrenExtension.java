// A JUnit 5 extension for Warren as a test broker: one Warren for the whole run (in memory,
// free loopback ports; stopped when JUnit finishes), reset before every test, handed to
// tests as a `Warren` parameter for the URL and fault injection. WARREN is the binary.
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Base64;
import org.junit.jupiter.api.extension.*;

public class WarrenExtension implements BeforeAllCallback, BeforeEachCallback, ParameterResolver {
  public static final class Warren implements ExtensionContext.Store.CloseableResource {
    public final int port, managementPort;
    private final Process process;
    private final HttpClient http = HttpClient.newHttpClient();

    Warren(String binary) throws Exception {
      port = freePort();
      managementPort = freePort();
      process = new ProcessBuilder(binary, "--listen", "127.0.0.1:" + port, "--management-listen",
          "127.0.0.1:" + managementPort, "--no-prometheus", "--log-level", "warn").inheritIO().start();
      for (long deadline = System.nanoTime() + 10_000_000_000L; ; Thread.sleep(20)) {
        try { api("GET", "/api/warren/snapshot", null); return; } catch (IOException e) {
          if (System.nanoTime() > deadline) { close(); throw e; }
        }
      }
    }

    private static int freePort() throws IOException {
      try (ServerSocket s = new ServerSocket(0)) { return s.getLocalPort(); }
    }

    public String api(String method, String path, String json) throws IOException, InterruptedException {
      HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + path))
          .header("Authorization", "Basic " + Base64.getEncoder().encodeToString("guest:guest".getBytes()))
          .header("Content-Type", "application/json")
          .method(method, json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json))
          .build();
      HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
      if (res.statusCode() >= 300) throw new IOException(method + " " + path + ": " + res.statusCode() + " " + res.body());
      return res.body();
    }

    public void reset() throws IOException, InterruptedException { api("POST", "/api/warren/reset", null); }

    /** Plays the steps (JSON objects) on the connection with this client-provided name;
     *  returns once that connection holds the plan. */
    public void injectFault(String connectionName, String... steps) throws IOException, InterruptedException {
      api("POST", "/api/warren/faults", "{\"target\": {\"connection_name\": \"" + connectionName
          + "\"}, \"steps\": [" + String.join(",", steps) + "]}");
    }

    @Override public void close() { process.destroy(); }
  }

  private static Warren warren(ExtensionContext context) {
    return context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
        .getOrComputeIfAbsent(Warren.class, k -> {
          try { return new Warren(System.getenv("WARREN")); } catch (Exception e) { throw new RuntimeException(e); }
        }, Warren.class);
  }

  @Override public void beforeAll(ExtensionContext context) { warren(context); }
  @Override public void beforeEach(ExtensionContext context) throws Exception { warren(context).reset(); }
  @Override public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
    return p.getParameter().getType() == Warren.class;
  }
  @Override public Object resolveParameter(ParameterContext p, ExtensionContext e) { return warren(e); }
}
