// Drives the dreamcache page in the system's headless Chromium.
// usage: node flow.mjs BASE_URL SCREENSHOT_PATH   (exits non-zero and says which step failed)
import { chromium } from 'playwright-core';

const [base, screenshot = 'dreamcache-web.png'] = process.argv.slice(2);
if (!base) { console.error('usage: node flow.mjs BASE_URL [SCREENSHOT_PATH]'); process.exit(2); }
const PROMPT = 'a lighthouse on a cliff in a storm';
const T = 60_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
page.on('requestfailed', (r) => {
  if (!r.url().includes('/events')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
});

let current = '';
async function step(name, fn) {
  current = name;
  console.log(`- ${name}`);
  await fn();
}
const expectText = async (locator, pattern) => {
  await locator.waitFor({ timeout: T });
  const text = await locator.innerText();
  if (!pattern.test(text)) throw new Error(`expected ${pattern} in ${JSON.stringify(text)}`);
};

try {
  await step('open / (no external requests)', async () => {
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url()); });
    await page.goto(`${base}/`);
    await page.getByLabel('Prompt', { exact: true }).waitFor();
    await page.waitForFunction(() => document.getElementById('stat-ratio').textContent.includes('%'), null, { timeout: T });
    if (external.length) throw new Error(`requests outside the app: ${external.join(', ')}`);
    const widthHint = await page.getByLabel('Width').getAttribute('placeholder');
    if (widthHint !== '64') throw new Error(`width placeholder should show the server default 64, got ${widthHint}`);
  });

  await step('generate a new prompt: progress bar, then the image with its time', async () => {
    await page.getByLabel('Prompt', { exact: true }).fill(PROMPT);
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.locator('#progress:not([hidden])').waitFor({ timeout: T });
    const card = page.locator('#gallery figure.generated').first();
    await expectText(card, /generated\s+in\s+[\d.]+\s*(ms|s)/);
    if (!(await page.locator('#progress').isHidden())) throw new Error('progress bar still shown after the job');
    const loaded = await card.locator('img').evaluate((img) => img.complete && img.naturalWidth === 64);
    if (!loaded) throw new Error('generated image did not load at 64 px');
    await expectText(page.locator('#status'), /Generated in/);
  });

  await step('same prompt again: answered from the cache, marked as a hit', async () => {
    await page.getByRole('button', { name: 'Generate' }).click();
    const hit = page.locator('#gallery figure.hit').first();
    await expectText(hit, /cache hit[\s\S]*similarity 1\.0/);
    await expectText(page.locator('#status'), /Cache hit/);
    await page.waitForFunction(() => /1 \/ 1/.test(document.getElementById('stat-counts').textContent), null,
      { timeout: T });
  });

  await step('three pictures of the cached prompt: one from the cache, two generated together', async () => {
    await page.getByLabel('Pictures (1–9)').fill('3');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForFunction(() => /1 from the cache, 2 generated/.test(document.getElementById('status').textContent),
      null, { timeout: T });
    const newest = page.locator('#gallery figure');
    await expectText(newest.nth(0), /cache hit/);
    await expectText(newest.nth(1), /generated/);
    await expectText(newest.nth(2), /generated/);
    await page.getByLabel('Pictures (1–9)').fill('');
  });

  await step('type the first characters: a suggestion appears, keyboard picks it', async () => {
    const input = page.getByLabel('Prompt', { exact: true });
    await input.fill('');
    await input.pressSequentially('a lightho', { delay: 30 });
    const option = page.getByRole('option').filter({ hasText: PROMPT }).first();
    await option.waitFor({ timeout: T });
    if ((await input.getAttribute('aria-expanded')) !== 'true') throw new Error('combobox not marked expanded');
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-suggest.png') });
    await input.press('ArrowDown');
    if (!(await input.getAttribute('aria-activedescendant'))) throw new Error('ArrowDown set no active option');
    await input.press('Enter');
    if ((await input.inputValue()) !== PROMPT) throw new Error(`Enter took ${await input.inputValue()}`);
    if (await page.getByRole('option').count()) throw new Error('list still open after Enter');
    await input.pressSequentially(' ', { delay: 30 });
    await page.getByRole('option').first().waitFor({ timeout: T });
    await input.press('Escape');
    if (await page.getByRole('option').count()) throw new Error('Escape did not close the list');
  });

  await step('invalid width 500: the 422 message is shown and the field highlighted', async () => {
    await page.getByLabel('Width').fill('500');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expectText(page.getByRole('alert'), /422[\s\S]*width[\s\S]*multiple of 8/);
    if ((await page.getByLabel('Width').getAttribute('aria-invalid')) !== 'true') throw new Error('width not highlighted');
    await page.screenshot({ path: screenshot, fullPage: true });
  });

  await step('blank prompt: the 422 message is shown', async () => {
    await page.getByLabel('Width').fill('');
    await page.getByLabel('Prompt', { exact: true }).fill('   ');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expectText(page.getByRole('alert'), /prompt[\s\S]*must not be blank/);
    if ((await page.getByLabel('Prompt', { exact: true }).getAttribute('aria-invalid')) !== 'true') throw new Error('prompt not highlighted');
  });

  await step('a close edit generates: related pictures are offered, "use this one" takes one instead', async () => {
    await page.getByLabel('Prompt', { exact: true }).fill(`${PROMPT}, oil painting`);
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Generate' }).click();
    const related = page.locator('#related figure').first();
    await related.waitFor({ timeout: T });
    await expectText(page.locator('#related'), new RegExp(`not answers[\\s\\S]*${PROMPT}`));
    await related.getByRole('button', { name: 'Use this one' }).click();
    await page.waitForFunction(() => /Took a related picture/.test(document.getElementById('status').textContent),
      null, { timeout: T });
    await expectText(page.locator('#gallery figure.adopted').first(), /related, taken instead/);
    if (!(await page.locator('#related').isHidden())) throw new Error('related pictures still shown');
  });

  await step('the cache from the first load: recent, popular, a picture full size, download, report', async () => {
    await page.reload();
    await page.locator('#browse figure').first().waitFor({ timeout: T });
    await page.waitForFunction((prompt) => [...document.querySelectorAll('#browse figure')].some(
      (f) => f.textContent.includes(prompt)), PROMPT, { timeout: T });
    await page.locator('#sort-popular').click();
    if ((await page.locator('#sort-popular').getAttribute('aria-pressed')) !== 'true') throw new Error('sort not pressed');
    await page.locator('#browse figure img').first().waitFor({ timeout: T });
    await page.locator('#browse figure img').first().click();
    const viewer = page.locator('#viewer');
    await expectText(viewer, /64×64, \d+ steps, guidance [\d.]+, seed \d+/);
    const href = await page.locator('#viewer-download').getAttribute('href');
    if (!href || !/\.png/.test(href)) throw new Error(`download link is ${href}`);
    await page.locator('#viewer-report').click();
    await page.waitForFunction(() => /Reported/.test(document.getElementById('viewer-status').textContent), null,
      { timeout: T });
    await page.locator('#viewer-close').click();
    if (await viewer.isVisible()) throw new Error('viewer still open after Close');
  });

  const unexpected = problems.filter((p) => !/status of 422/.test(p));
  if (unexpected.length) throw new Error(`browser reported:\n  ${unexpected.join('\n  ')}`);
  console.log('web flow: ok');
} catch (err) {
  console.error(`web flow FAILED at step "${current}": ${err.message}`);
  if (problems.length) console.error(`browser reported:\n  ${problems.join('\n  ')}`);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-failure.png'), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
