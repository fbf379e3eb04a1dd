// Builds and starts the real `petavatar` binary for the browser test.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const CHELSEA = path.join(REPO_ROOT, "fixtures", "chelsea.png");
// Screenshots go where the brief and the docs say: <repo>/target/browser/ (git-ignored).
export const ARTIFACTS = path.join(REPO_ROOT, "target", "browser");

/// Builds `cargo build -p petavatar` (debug) and returns the binary's path.
/// Cargo itself resolves the target dir (CARGO_TARGET_DIR, .cargo/config), so we ask it
/// rather than guessing; PETAVATAR_BIN skips the build (e.g. a CI step that built already).
export function buildPetavatar() {
  if (process.env.PETAVATAR_BIN) return process.env.PETAVATAR_BIN;
  const out = execFileSync(
    "cargo",
    ["build", "-p", "petavatar", "--bin", "petavatar", "--message-format=json-render-diagnostics"],
    { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 256 * 1024 * 1024 },
  );
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const msg = JSON.parse(line);
    if (msg.reason === "compiler-artifact" && msg.target?.name === "petavatar" && msg.executable) {
      return msg.executable;
    }
  }
  throw new Error("cargo build -p petavatar reported no petavatar executable");
}

/// How long a helper may take to come up on a busy machine (six engineers, two cores); only a
/// broken one takes this long.
export const START_TIMEOUT_MS = 120_000;

/// Starts `petavatar serve --port 0` (the server binds a port the OS picks, so nothing can
/// take it first, and prints it) on a fresh temp data folder, waits for its "listening on"
/// line, then until it answers `GET /openapi.json`; the first start prints the API key on
/// stderr. The server is killed by pid when the test process exits, whatever the outcome.
/// `stageDelayMs` pauses before each stage (`--stage-delay-ms`), so that a poller sees every
/// stage run, RecordResult and both Parallel branches included.
export async function startServer(binary, { timeoutMs = START_TIMEOUT_MS, stageDelayMs = 0 } = {}) {
  const data = mkdtempSync(path.join(tmpdir(), "petavatar-browser-"));
  const logPath = path.join(data, "server.log");
  const log = createWriteStream(logPath);
  const child = spawn(binary, ["serve", "--port", "0", "--data", path.join(data, "data"), "--stage-delay-ms", String(stageDelayMs)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  child.stdout.pipe(log, { end: false });
  // A test process that ends without calling stop() (an exception in a hook, process.exit)
  // still takes its server with it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const server = {
    child,
    data,
    logPath,
    key: null,
    operatorKey: null,
    base: null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // "close" (not "exit"): stdout and stderr are drained, so nothing writes to the log after.
        const exited = new Promise((resolve) => child.once("close", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      process.off("exit", killOnExit);
      log.end();
    },
    cleanup() {
      rmSync(data, { recursive: true, force: true });
    },
  };
  await new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => fail(new Error(`petavatar serve did not start in ${timeoutMs} ms`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      reject(err);
    }
    child.once("error", fail);
    child.once("exit", (code, signal) => fail(new Error(`petavatar serve exited early (code ${code}, signal ${signal}); log in ${logPath}`)));
    child.stderr.on("data", (chunk) => {
      log.write(chunk);
      buffered += chunk.toString("utf8");
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const key = line.split("(shown once, keep it): ")[1];
        if (key) server.key = key.trim();
        if (line.startsWith("Created operator key ")) server.operatorKey = line.slice(line.lastIndexOf("): ") + 3).trim();
        const listening = line.match(/listening on (http:\/\/\S+)/);
        if (listening) {
          server.base = listening[1];
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  await waitUntilAnswers(`${server.base}/openapi.json`, timeoutMs);
  return server;
}

/// Polls `url` until it answers 200, with a short backoff, for at most `timeoutMs`: a port
/// that is bound is not yet one that serves, and a refused or reset connection of a server
/// still warming up is retried rather than taken as a failure.
export async function waitUntilAnswers(url, timeoutMs = START_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let backoff = 20;
  let last;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (e) {
      last = String(e.cause ?? e);
    }
    if (Date.now() >= deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 500);
  }
}
