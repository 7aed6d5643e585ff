// Browser end-to-end test of Berth's web UI, run by ui_test.go against a
// live `berth serve`: playwright-core drives the system's Chromium
// (/usr/bin/chromium; no browser download). It signs in, browses to an
// image, opens a CVE, runs a retention preview, creates a token (which
// must log in to the registry) and revokes it (which must stop it), and
// checks that no request left 127.0.0.1 and no CSP violation happened.
// With BERTH_SCREENSHOTS=<dir> it saves screenshots of the main pages.
//
// Environment: BERTH_URL, BERTH_USER, BERTH_PASSWORD, BERTH_REPO,
// BERTH_DIGEST, BERTH_CVE, CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const base = env("BERTH_URL");
const user = env("BERTH_USER");
const password = env("BERTH_PASSWORD");
const repo = env("BERTH_REPO");
const digest = env("BERTH_DIGEST");
const cve = env("BERTH_CVE");
const shots = process.env.BERTH_SCREENSHOTS || "";

const problems = [];
const step = (msg) => console.log(`e2e: ${msg}`);
function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function expectText(page, text, what) {
  const body = await page.locator("body").innerText();
  expect(body.includes(text), `${what}: page at ${page.url()} lacks ${JSON.stringify(text)}`);
}
async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
  step(`screenshot ${name}.png`);
}

const profile = mkdtempSync(join(tmpdir(), "berth-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 860 },
  colorScheme: "light",
});
let failed = false;
try {
  context.on("request", (req) => {
    const u = new URL(req.url());
    if ((u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "127.0.0.1") {
      problems.push(`request left 127.0.0.1: ${req.url()}`);
    }
  });
  // The page reports CSP violations as events and console errors; both
  // are watched, since either alone depends on the Chromium version.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    const text = msg.text();
    if (/Content Security Policy|CSP violation/i.test(text)) problems.push(`CSP: ${text}`);
    else if (msg.type() === "error") problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.setDefaultTimeout(10000);
  if (shots) mkdirSync(shots, { recursive: true });

  step("sign in");
  await page.goto(`${base}/ui/`);
  expect(page.url().includes("/ui/signin"), `not sent to sign in: ${page.url()}`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click(`form[action="/ui/signin"] button[type=submit]`)]);
  await expectText(page, "Registry overview", "home");
  await expectText(page, cve, "home top vulnerabilities");

  step("browse to the image");
  await page.click('nav a[href="/ui/repositories"]');
  await expectText(page, repo, "repositories");
  await shot(page, "repositories");
  await page.click(`a[href="/ui/repositories/${repo}"]`);
  await page.waitForURL(`${base}/ui/repositories/${repo}`);
  await expectText(page, "v1", "repository");
  await shot(page, "repository");
  await page.click(`a[href="/ui/repositories/${repo}/-/images/${digest}"] >> nth=0`);
  await page.waitForURL(`${base}/ui/repositories/${repo}/-/images/${digest}`);
  await expectText(page, "Vulnerabilities", "image");

  step("open a CVE");
  const finding = page.locator("details.finding", { hasText: cve }).first();
  await finding.locator("summary").click();
  expect(await finding.evaluate((d) => d.open), `${cve} did not expand`);
  const detail = await finding.locator(".detail").innerText();
  expect(detail.includes("CVSS") && detail.includes("Fix status"), `${cve} detail lacks CVSS or fix status: ${detail}`);
  await shot(page, "image");

  step("retention preview");
  await page.click('nav a[href="/ui/policies"]');
  await page.fill('input[name="name"]', "keep-newest");
  await page.fill('input[name="repos"]', ".*");
  await page.fill('input[name="keep"]', "1");
  await page.fill('input[name="older_than"]', "0d");
  const before = page.url();
  await page.click("#preview-button");
  await page.locator("#preview .preview").waitFor();
  expect(page.url() === before, `the preview navigated: ${page.url()}`);
  const preview = await page.locator("#preview").innerText();
  expect(/would be deleted/.test(preview) && preview.includes("deleted: "), `preview: ${preview}`);
  await shot(page, "policies");

  step("usage");
  await page.click('nav a[href="/ui/usage"]');
  for (let i = 0; i < 50 && !(await page.locator("svg.chart").count()); i++) {
    await page.waitForTimeout(100);
    await page.reload();
  }
  expect(await page.locator("svg.chart polyline").count() === 1, "usage chart missing");
  await expectText(page, repo, "usage");
  await shot(page, "usage");

  step("create a token");
  await page.click('nav a[href="/ui/access"]');
  const tokenForm = page.locator('form[action="/ui/access/tokens"]');
  await tokenForm.locator('input[name="name"]').fill("e2e");
  await tokenForm.locator('input[name="grants"]').fill(`${repo}=pull`);
  await Promise.all([page.waitForLoadState("load"), tokenForm.locator("button[type=submit]").click()]);
  await expectText(page, "Token e2e created", "token creation");
  const login = (await page.locator("#token-login").innerText()).trim();
  const secret = (await page.locator("#token-secret").innerText()).trim();
  const pull = async () => (await fetch(`${base}/v2/${repo}/manifests/v1`, {
    headers: { Authorization: "Basic " + Buffer.from(`${login}:${secret}`).toString("base64"), Accept: "application/vnd.oci.image.manifest.v1+json" },
  })).status;
  expect(await pull() === 200, "the new token does not pull");
  await shot(page, "access");

  step("revoke it");
  const row = page.locator("tr", { hasText: login });
  await Promise.all([page.waitForLoadState("load"), row.locator('button[value="delete"]').click()]);
  await expectText(page, "Token e2e revoked.", "revocation");
  expect(await page.locator("body").innerText().then((t) => !t.includes(secret)), "the secret is shown again");
  expect(await pull() === 401, "the revoked token still pulls");

  if (shots) {
    // The home page again, now that storage has been measured.
    await page.click('nav a[href="/ui/"]');
    await shot(page, "home");
    step("dark theme");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/ui/repositories/${repo}/-/images/${digest}`);
    await page.locator("details.finding summary").first().click();
    await shot(page, "image-dark");
  }
  expect(problems.length === 0, `problems:\n  ${problems.join("\n  ")}`);
  step("ok");
} catch (err) {
  failed = true;
  console.error(`e2e: FAIL: ${err.message}`);
  if (problems.length) console.error(`e2e: also:\n  ${problems.join("\n  ")}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
