// A stock JSON-RPC client (vscode-jsonrpc, the library VS Code speaks LSP with) drives the worker over
// --framing lsp: requests, a notification, progress and cancellation, all through the library's own API.
// Prints one JSON summary line; the pytest wrapper checks it.
"use strict";
const cp = require("child_process");
const rpc = require("vscode-jsonrpc/node");

const python = process.argv[2];
const worker = cp.spawn(python, ["-m", "worker", "--framing", "lsp", "--enable-test-methods"], {
  stdio: ["pipe", "pipe", "inherit"],
});
// Listened for from the start: the worker may exit before the shutdown answer has been read, and an
// "exit" missed that way would leave nothing to wait for (node would end silently with code 0).
const exited = new Promise((resolve) => worker.on("exit", (code) => resolve(code)));
const connection = rpc.createMessageConnection(
  new rpc.StreamMessageReader(worker.stdout),
  new rpc.StreamMessageWriter(worker.stdin)
);

let printed = false;
process.on("exit", (code) => {
  if (code === 0 && !printed) {
    console.error("the client ran out of work before its summary: something it awaited can never settle");
    process.exitCode = 3;
  }
});

const summary = { ready: null, ping: null, errorCode: null, progress: [], cancelledCode: null, exitCode: null };
connection.onNotification("worker/ready", (params) => { summary.ready = params; });
connection.listen();

async function main() {
  summary.ping = await connection.sendRequest("worker/ping", { hello: "vscode" });
  try {
    await connection.sendRequest("no/such/method", {});
  } catch (e) {
    summary.errorCode = e.code;
  }
  const token = "tok-1";
  const disposable = connection.onProgress(new rpc.ProgressType(), token, (value) => summary.progress.push(value));
  await connection.sendRequest("test/sleep", { seconds: 0.2, progress_interval: 0.1, progressToken: token });
  disposable.dispose();

  const source = new rpc.CancellationTokenSource();
  const slow = connection.sendRequest("test/sleep", { seconds: 30 }, source.token);
  setTimeout(() => source.cancel(), 100);
  try {
    await slow;
  } catch (e) {
    summary.cancelledCode = e.code;
  }
  await connection.sendRequest("worker/shutdown", {});
  summary.exitCode = await exited;
  console.log(JSON.stringify(summary));
  printed = true;
  connection.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
setTimeout(() => { console.error("timed out"); process.exit(2); }, 30000).unref();
