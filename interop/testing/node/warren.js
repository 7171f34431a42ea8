// A Node helper for Warren as a test broker: start one Warren (in memory, free loopback
// ports), reset it between tests, inject faults over the control API.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }).on('error', reject);
});

async function start(binary = process.env.WARREN) {
  const [port, mport] = [await freePort(), await freePort()];
  const proc = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--management-listen',
    `127.0.0.1:${mport}`, '--no-prometheus', '--log-level', 'warn'], { stdio: 'inherit' });
  const api = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${mport}${path}`, {
      method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { 'content-type': 'application/json',
        authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  for (const deadline = Date.now() + 10000; ; await new Promise((r) => setTimeout(r, 20))) {
    try { await api('GET', '/api/warren/snapshot'); break; } catch (e) {
      if (Date.now() > deadline) { proc.kill(); throw e; }
    }
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    api,
    reset: () => api('POST', '/api/warren/reset'),
    // Plays the steps on the connection whose client property connection_name is `name`;
    // resolves once that connection holds the plan.
    injectFault: (name, ...steps) =>
      api('POST', '/api/warren/faults', { target: { connection_name: name }, steps }),
    wait: (condition) => api('POST', '/api/warren/wait', condition),
    stop: () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill(); }),
  };
}

module.exports = { start };
