// Warren as a test broker from `go test`: TestMain starts one Warren (in memory, free
// loopback ports), each test resets it first and injects faults over the control API.
// WARREN is the path of the `warren` binary.
package warrentesting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

var amqpURL, apiBase string

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func api(method, path string, body interface{}) (int, []byte, error) {
	var in []byte
	if body != nil {
		in, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, apiBase+path, bytes.NewReader(in))
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(res.Body)
	return res.StatusCode, out.Bytes(), nil
}

func TestMain(m *testing.M) {
	port, mport := freePort(), freePort()
	amqpURL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port)
	apiBase = fmt.Sprintf("http://127.0.0.1:%d", mport)
	warren := exec.Command(os.Getenv("WARREN"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--management-listen", fmt.Sprintf("127.0.0.1:%d", mport), "--no-prometheus", "--log-level", "warn")
	warren.Stderr = os.Stderr
	if err := warren.Start(); err != nil {
		panic(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, _ := api("GET", "/api/warren/snapshot", nil); status == 200 {
			break
		} else if time.Now().After(deadline) {
			warren.Process.Kill()
			panic("warren did not start within 10 s")
		}
	}
	code := m.Run()
	warren.Process.Kill()
	warren.Wait()
	os.Exit(code)
}

// reset puts Warren back to its state at start; every test calls it first.
func reset(t *testing.T) {
	if status, body, err := api("POST", "/api/warren/reset", nil); err != nil || status != 204 {
		t.Fatalf("reset: %d %s %v", status, body, err)
	}
}

// injectFault plays steps on the connection whose connection_name client property is name;
// it returns once that connection holds the plan.
func injectFault(t *testing.T, name string, steps ...map[string]interface{}) {
	plan := map[string]interface{}{"target": map[string]string{"connection_name": name}, "steps": steps}
	if status, body, err := api("POST", "/api/warren/faults", plan); err != nil || status != 201 {
		t.Fatalf("inject fault: %d %s %v", status, body, err)
	}
}
