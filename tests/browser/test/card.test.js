// The web page end to end, as a person uses it: a real `petavatar serve`, headless Debian
// Chromium, the page's own file input, the finished identity card and the execution view.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { ARTIFACTS, CHELSEA, REPO_ROOT, START_TIMEOUT_MS, buildPetavatar, startServer } from "../lib/petavatar.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps dialling out, and this machine's
// closed network refuses each attempt (docs: /work/.library/env/machines/rust.md).
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const JOB_TIMEOUT_MS = 120_000;
const STAGE_DELAY_MS = 1_200;

let server;
let browser;
let context;
let page;
const pageErrors = [];
const statusBodies = [];
let failed = false;

/// Marks the run failed (so the server log is kept) and rethrows.
function guarded(body) {
  return async (t) => {
    try {
      await body(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  };
}

before(async () => {
  failed = true; // until the server and the browser are up
  mkdirSync(ARTIFACTS, { recursive: true });
  const binary = buildPetavatar();
  // A pause before each stage long enough for the page's 500 ms polls to see every stage run.
  server = await startServer(binary, { stageDelayMs: STAGE_DELAY_MS });
  // playwright's launch() gives Chromium a new empty --user-data-dir of its own.
  // launch() returns once Chromium answers over its DevTools pipe; on a busy machine that can
  // take longer than playwright's 30 s default, and so can a page's waits.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: START_TIMEOUT_MS });
  context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(START_TIMEOUT_MS);
  page = await context.newPage();
  // Every state the stage list is drawn in, recorded in the page as it changes (a
  // MutationObserver), to compare with every /status answer the page received.
  await page.addInitScript(() => {
    window.__stageSnapshots = [];
    const record = () => {
      const list = document.getElementById("stage-list");
      if (!list) return;
      const snapshot = [...list.children].map((li) => [li.dataset.stage, li.className || "pending"]);
      const last = window.__stageSnapshots.at(-1);
      if (JSON.stringify(last) !== JSON.stringify(snapshot)) window.__stageSnapshots.push(snapshot);
    };
    document.addEventListener("DOMContentLoaded", () => {
      // Only the upload page has a stage list (the init script runs on every page).
      const list = document.getElementById("stage-list");
      if (list) new MutationObserver(record).observe(list, { attributes: true, subtree: true });
    });
  });
  page.on("response", async (r) => {
    if (!/\/status\/[0-9a-f-]+$/.test(new URL(r.url()).pathname) || r.status() !== 200) return;
    statusBodies.push(await r.json().catch(() => null));
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    // A failed load is recorded with its URL by the "response" listener below; the one this
    // drops is Chromium's own /favicon.ico request (404: the page has no icon), which is not a
    // page request and so never reaches that listener.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) pageErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => pageErrors.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  failed = false;
});

after(async () => {
  // Always runs, also when a test failed: no server or browser outlives the run.
  await browser?.close().catch(() => {});
  if (server) {
    await server.stop();
    if (failed) {
      console.error(`server log kept in ${server.logPath}`);
    } else {
      server.cleanup();
    }
  }
});

/// Waits until the job finished one way or the other; a failed job fails the test with the
/// page's own error text instead of timing out.
async function waitForOutcome() {
  await page.waitForFunction(
    () => !document.getElementById("result-panel").hidden || !document.getElementById("error").hidden,
    null,
    { timeout: JOB_TIMEOUT_MS, polling: 100 },
  );
  const error = page.locator("#error");
  if (await error.isVisible()) {
    await page.screenshot({ path: path.join(ARTIFACTS, "failure.png"), fullPage: true });
    assert.fail(`the page shows an error: ${await error.textContent()}`);
  }
}

let jobId;

test("a photo uploaded through the page becomes an identity card", guarded(async () => {
  assert.ok(server.key, "the first start of `petavatar serve` prints an API key on stderr");
  const response = await page.goto(`${server.base}/`);
  assert.equal(response.status(), 200);

  await page.fill("#api-key", server.key);
  // The input is hidden behind the drop zone; setInputFiles fires its "change" like a chooser.
  await page.setInputFiles("#photo-input", CHELSEA);

  await page.locator("#job-panel").waitFor({ state: "visible" });
  jobId = (await page.locator("#job-id").textContent()).trim();
  assert.match(jobId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

  await waitForOutcome();
  assert.match(await page.locator("#status").textContent(), /^completed\b/);
  assert.equal(await page.locator("#progress").evaluate((p) => p.value), 100);
  const stageClasses = await page.locator("#stage-list li").evaluateAll((lis) => lis.map((li) => li.className));
  assert.ok(stageClasses.length === 6 && stageClasses.every((c) => c === "done"), `stages: ${stageClasses}`);

  // The stage list follows /status exactly: the distinct lists /status answered, in order, are
  // the distinct lists the page drew, in order.
  const answered = [];
  for (const body of statusBodies) {
    const list = body.stages.map((s) => [s.name, s.state]);
    if (JSON.stringify(answered.at(-1)) !== JSON.stringify(list)) answered.push(list);
  }
  const drawn = (await page.evaluate(() => window.__stageSnapshots)).filter(
    (snapshot) => snapshot.some(([, state]) => state !== "pending"),
  );
  assert.deepEqual(drawn, answered.filter((list) => list.some(([, state]) => state !== "pending")));
  // Every stage was seen running, the two Parallel branches at the same time, and progress
  // never went back.
  const running = (list) => list.filter(([, state]) => state === "running").map(([name]) => name);
  for (const stage of ["validate_image", "analyze_pet", "map_career", "record_result"]) {
    assert.ok(answered.some((list) => running(list).includes(stage)), `never saw ${stage} running: ${JSON.stringify(answered)}`);
  }
  assert.ok(
    answered.some((list) => running(list).includes("generate_avatar") && running(list).includes("write_identity")),
    `never saw both Parallel branches running: ${JSON.stringify(answered)}`,
  );
  const progress = statusBodies.map((b) => b.progress);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), `progress went back: ${progress}`);

  const name = (await page.locator("#identity-name").textContent()).trim();
  const title = (await page.locator("#identity-title").textContent()).trim();
  assert.ok(name.length > 0, "the card shows a name");
  assert.ok(title.length > 0, "the card shows a job title");
  assert.ok(await page.locator("#identity-name").isVisible());
  assert.ok(await page.locator("#identity-title").isVisible());

  // The page must show what the API says about this job, not something of its own.
  const results = await (
    await fetch(`${server.base}/results/${jobId}`, { headers: { "x-api-key": server.key } })
  ).json();
  assert.equal(name, results.identity.name);
  assert.equal(title, results.identity.job_title);

  // The avatar: a signed /local/download URL that the browser really fetched and decoded.
  const avatar = page.locator("#avatar");
  await page.waitForFunction(() => {
    const img = document.getElementById("avatar");
    return img.complete && img.getAttribute("src");
  }, null, { timeout: 30_000 });
  const image = await avatar.evaluate((img) => ({
    src: img.currentSrc,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
  }));
  assert.ok(image.naturalWidth > 0, `avatar did not load: ${JSON.stringify(image)}`);
  assert.ok(image.naturalHeight > 0);
  assert.match(image.src, /\/local\/download\?/);
  // Every size is offered, each a working signed URL of a PNG of that size.
  assert.deepEqual(results.avatars.map((a) => a.size), [1024, 512, 256]);
  const sizeLinks = await page.locator("#avatar-sizes a").evaluateAll((as) => as.map((a) => [Number(a.dataset.size), a.href]));
  assert.deepEqual(sizeLinks.map(([size]) => size), [1024, 512, 256]);
  for (const [size, href] of sizeLinks) {
    const png = Buffer.from(await (await fetch(href)).arrayBuffer());
    assert.equal(png.readUInt32BE(16), size, `the ${size} px link gives a ${png.readUInt32BE(16)} px image`);
  }

  await page.screenshot({ path: path.join(ARTIFACTS, "card.png"), fullPage: true });
  assert.deepEqual(pageErrors, []);
}));

test("the execution view draws the state graph and the event table", guarded(async () => {
  assert.ok(jobId, "needs the job of the first test");
  const definition = JSON.parse(readFileSync(path.join(REPO_ROOT, "statemachine", "pipeline.asl.json"), "utf8"));
  const stateNames = allStateNames(definition);

  // Follow the page's own link, as a person would: the operator pages ask for the operator
  // key first, then go back to the execution.
  await page.locator("#execution-link").click();
  await page.locator("#login-form").waitFor({ state: "visible" });
  await page.locator("#operator-key").fill(server.operatorKey);
  await page.locator("#login-submit").click();
  await page.waitForURL(`**/executions/${jobId}`);
  await page.locator("#execution-svg").waitFor({ state: "visible" });
  await page.waitForFunction(() => document.getElementById("execution-status").textContent !== "RUNNING");

  assert.equal((await page.locator("#execution-name").textContent()).trim(), jobId);
  assert.equal(await page.locator("#execution-status").textContent(), "SUCCEEDED");
  assert.match(await page.locator("#execution-arn").textContent(), new RegExp(`:execution:[^:]+:${jobId}$`));

  // One g.state per state of the definition, coloured by outcome.
  const drawn = await page.locator("#execution-svg g.state").evaluateAll((gs) =>
    Object.fromEntries(gs.map((g) => [g.dataset.state, g.dataset.outcome])),
  );
  assert.deepEqual(Object.keys(drawn).sort(), [...stateNames].sort());
  for (const ok of ["ValidateImage", "AnalyzePet", "MapCareer", "GenerateAvatarAndIdentity", "GenerateAvatar", "WriteIdentity", "RecordResult"]) {
    assert.equal(drawn[ok], "succeeded", `${ok} is drawn as ${drawn[ok]}`);
  }
  assert.equal(drawn.RecordFailure, "idle");
  assert.equal(drawn.JobFailed, "idle");
  const box = await page.locator("#execution-svg").boundingBox();
  assert.ok(box.width > 100 && box.height > 200, `graph box ${JSON.stringify(box)}`);

  // The event table: the whole history, in order, starting and ending as a success does.
  const rows = await page.locator("#event-table tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({ id: Number(tr.children[0].textContent), type: tr.dataset.type, step: tr.children[2].textContent })),
  );
  const history = await (await fetch(`${server.base}/api/executions/${jobId}`, { headers: { "x-operator-key": server.operatorKey } })).json();
  assert.equal(rows.length, history.events.length);
  assert.ok(rows.length >= 20, `only ${rows.length} events`);
  assert.equal(rows[0].type, "ExecutionStarted");
  assert.equal(rows.at(-1).type, "ExecutionSucceeded");
  assert.deepEqual(rows.map((r) => r.id), rows.map((_, i) => i + 1));
  const enteredSteps = new Set(rows.filter((r) => r.type.endsWith("StateEntered")).map((r) => r.step));
  for (const s of ["ValidateImage", "AnalyzePet", "MapCareer", "GenerateAvatar", "WriteIdentity", "RecordResult"]) {
    assert.ok(enteredSteps.has(s), `no StateEntered row for ${s}`);
  }

  await page.screenshot({ path: path.join(ARTIFACTS, "execution.png"), fullPage: true });
  // The one refusal expected: the execution page asked for before signing in (the sign-in page, 401).
  const signIn = `401 GET ${server.base}/executions/${jobId}`;
  assert.deepEqual(pageErrors.filter((e) => e !== signIn), []);
}));

function allStateNames(machine) {
  const names = [];
  for (const [name, state] of Object.entries(machine.States)) {
    names.push(name);
    for (const branch of state.Branches ?? []) names.push(...allStateNames(branch));
  }
  return names;
}
