// tests/browser/pages.test.mjs - leanpix serve's card pages in a real browser: Debian's
// chromium, driven by playwright-core (npm; tests/browser/package-lock.json pins it).
//
// Starts `leanpix serve --data SHARED/metarefcard` on a free port, then:
//   - the page's multipart reader (web/app.js) gets 3 parts of 100 kB intact from an
//     answer cut into 1000-byte chunks;
//   - / : the language, a link per game; /fs2020: the file input has its label and is
//     reached with the keyboard, the places where the game keeps its files are shown;
//   - chooses the 18 fs2020 test files (testdata/fs2020/*.xml: 15 cards, stick and throttle
//     files share one), submits with the keyboard, and waits for 15 <img> the browser
//     decoded at 1920x1080, their alt texts the devices' names;
//   - clicks a card's Download (a JPEG of 1920x1080) and "Download all" (a zip of 15 JPEGs);
//   - the page's Content-Security-Policy is never violated (no inline code, no CDN);
//   - without JavaScript, the same form posts and answers a page with the 15 cards, and
//     its second button downloads their zip.
// Screenshots of /, /fs2020 (files chosen; cards made) and /sws (1280x800) go to
// LP_TEST_TMP, and to docs/images/ when LP_UPDATE_SCREENSHOTS=1 (reduced to 256 colours
// with ImageMagick when it is there).
//
// Exit 0 passed, 1 failed, 77 skipped (no chromium, no playwright-core, no ../shared).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = process.env.LP_SOURCE_DIR || path.resolve(here, '../..');
const bin = process.env.LP_BIN || path.join(source, 'build/leanpix');
const shared = process.env.LP_SHARED_DIR || path.resolve(source, '../shared');
const tmp = process.env.LP_TEST_TMP || fs.mkdtempSync('/tmp/lp-browser-');
const chromium = process.env.LP_CHROMIUM || '/usr/bin/chromium';
const slow = process.env.LP_SANITIZED ? 4 : 1;  // sanitizer builds render a few times slower

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(77);
}
if (!fs.existsSync(chromium)) skip(`${chromium} is missing (scripts/deps.sh test installs chromium)`);
if (!fs.existsSync(path.join(shared, 'metarefcard/testdata/fs2020'))) skip(`${shared}/metarefcard is absent (set LP_SHARED_DIR)`);
let playwright;
try {
  playwright = await import('playwright-core');
} catch {
  skip('playwright-core is not installed (scripts/deps.sh test runs npm ci in tests/browser)');
}
fs.mkdirSync(tmp, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// ---- the server ----
function startServer() {
  return new Promise((resolve, reject) => {
    const srv = spawn(bin, ['serve', '--data', path.join(shared, 'metarefcard'), '--listen', '127.0.0.1:0'],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ srv, base: m[1], output: () => out });
    };
    srv.stdout.on('data', seen);
    srv.stderr.on('data', seen);
    srv.on('exit', (code) => reject(new Error(`leanpix serve exited (${code}): ${out}`)));
    setTimeout(() => reject(new Error(`leanpix serve did not start: ${out}`)), 20000 * slow);
  });
}

// ---- what was downloaded ----
function jpegSize(buf) {  // width and height from the first SOFn marker
  if (buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  for (let i = 2; i + 9 < buf.length;) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1], len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { width: buf.readUInt16BE(i + 7), height: buf.readUInt16BE(i + 5) };
    i += 2 + len;
  }
  return null;
}

function zipEntries(buf) {  // name -> bytes, from the central directory (stored entries)
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) return null;
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = {};
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) return null;
    const method = buf.readUInt16LE(p + 10), csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28), xlen = buf.readUInt16LE(p + 30), clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    const lstart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out[name] = method === 0 ? buf.subarray(lstart, lstart + csize) : null;
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

async function shoot(page, name) {
  const file = path.join(tmp, name);
  await page.screenshot({ path: file });
  if (process.env.LP_UPDATE_SCREENSHOTS === '1') {
    const dest = path.join(source, 'docs/images', name);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    try {
      execFileSync('convert', [file, '-strip', '-colors', '256', `PNG8:${dest}`]);
    } catch {
      fs.copyFileSync(file, dest);
    }
  }
}

const started = Date.now();
let page = null;
const problems = [];
const { srv, base, output } = await startServer();
const browser = await playwright.chromium.launch({
  executablePath: chromium, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  // ---- the page's multipart reader, fed 3 parts of 100 kB in 1000-byte chunks (its
  // buffer grows while earlier parts are behind it) ----
  await page.goto(base + '/');
  const parts = await page.evaluate(async () => {
    const enc = new TextEncoder(), pieces = [];
    for (let i = 0; i < 3; i++) {
      const body = new Uint8Array(100000).map((_, j) => (j * (i + 7)) & 255);
      pieces.push(enc.encode(`--b\r\nContent-ID: <card-${i + 1}>\r\nContent-Length: ${body.length}\r\n\r\n`), body,
                  enc.encode('\r\n'));
    }
    pieces.push(enc.encode('--b--\r\n'));
    const all = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    let at = 0;
    const stream = new ReadableStream({ pull(c) {
      if (at >= all.length) return c.close();
      c.enqueue(all.slice(at, at + 1000));
      at += 1000;
    } });
    const got = [];
    await window.leanpixPages.readMultipart(new Response(stream), 'b', (h, bytes) => {
      const i = Number(h['content-id'].replace(/\D/g, '')) - 1;
      got.push(bytes.length === 100000 && bytes.every((v, j) => v === ((j * (i + 7)) & 255)));
    });
    return got;
  });
  check(parts.length === 3 && parts.every(Boolean), `the multipart reader gets 3 parts intact from small chunks (${parts})`);

  // ---- the index ----
  await page.goto(base + '/');
  check(await page.getAttribute('html', 'lang') === 'en', '/ has lang="en"');
  check(await page.locator('main a[href="/fs2020"]').count() === 1 && await page.locator('main a[href="/sws"]').count() === 1,
        '/ links every game');
  await shoot(page, 'serve-index.png');

  // ---- the fs2020 page: labels, keyboard, places ----
  await page.goto(base + '/fs2020');
  check(await page.locator('#files').count() === 1 && await page.getByLabel('Binding files').count() === 1,
        '/fs2020: the file input is labelled "Binding files"');
  check((await page.locator('.places').innerText()).includes('Microsoft.FlightSimulator_8wekyb3d8bbwe'),
        '/fs2020 says where the game keeps its files');
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'files');
  }
  check(reached, '/fs2020: the file input is reached with Tab');
  const dir = path.join(shared, 'metarefcard/testdata/fs2020');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.xml')).sort().map((f) => path.join(dir, f));
  check(files.length === 18, `the 18 fs2020 test files (found ${files.length})`);
  await page.setInputFiles('#files', files);
  check(await page.locator('#chosen li').count() === 18, 'the 18 files are listed as chosen');
  await shoot(page, 'serve-fs2020.png');

  // ---- submit with the keyboard, wait for 15 decoded cards ----
  await page.focus('#make');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('#cards img')];
    return imgs.length === 15 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: 15000 * slow });
  const cards = await page.$$eval('#cards img', (imgs) => imgs.map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, alt: i.alt })));
  check(cards.length === 15, `15 cards shown (${cards.length})`);
  check(cards.every((c) => c.w === 1920 && c.h === 1080), 'every card decoded at 1920x1080');
  check(cards.every((c) => c.alt && !/card \d/.test(c.alt)) && cards.some((c) => c.alt.startsWith('X-55 Stick & Throttle')),
        'alt texts are the devices\' names');
  check(await page.locator('#cards figcaption a[download]').count() === 15, 'a download button per card');
  check(/15 cards ready/.test(await page.locator('#status').innerText()), 'the status says 15 cards ready');
  await page.locator('#results').scrollIntoViewIfNeeded();
  await page.evaluate(() => document.getElementById('results').scrollIntoView());
  await shoot(page, 'serve-fs2020-cards.png');

  // ---- downloads ----
  const one = page.waitForEvent('download');
  await page.locator('#cards figcaption a[download]').first().click();
  const dl = await one;
  const jpg = fs.readFileSync(await dl.path());
  const size = jpegSize(jpg);
  check(size && size.width === 1920 && size.height === 1080 && dl.suggestedFilename().endsWith('.jpg'),
        `a card's download is a 1920x1080 JPEG (${dl.suggestedFilename()}, ${jpg.length} bytes)`);
  const zipWait = page.waitForEvent('download', { timeout: 15000 * slow });
  await page.click('#download-all');
  const zdl = await zipWait;
  const zip = fs.readFileSync(await zdl.path());
  fs.writeFileSync(path.join(tmp, 'cards.zip'), zip);
  const entries = zipEntries(zip) || {};
  const jpgs = Object.keys(entries).filter((n) => n.endsWith('.jpg'));
  check(zdl.suggestedFilename() === 'fs2020-cards.zip', `"Download all" saves fs2020-cards.zip (${zdl.suggestedFilename()})`);
  check(jpgs.length === 15 && jpgs.every((n) => {
    const s = entries[n] && jpegSize(entries[n]);
    return s && s.width === 1920 && s.height === 1080;
  }), `the zip holds 15 JPEGs of 1920x1080 (${jpgs.length} .jpg entries)`);

  // ---- sws ----
  await page.goto(base + '/sws');
  check((await page.locator('.places').innerText()).includes('STAR WARS Squadrons'), '/sws says where the game keeps its files');
  await shoot(page, 'serve-sws.png');
  check(problems.length === 0, `no console errors or CSP violations${problems.length ? ': ' + problems.join(' | ') : ''}`);

  // ---- without JavaScript: the plain form ----
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 },
                                           acceptDownloads: true });
  const p2 = await plain.newPage();
  await p2.goto(base + '/fs2020');
  await p2.setInputFiles('#files', files);
  const plainZip = p2.waitForEvent('download', { timeout: 40000 * slow });
  await p2.click('#make-zip');
  const pz = await plainZip;
  const pzEntries = zipEntries(fs.readFileSync(await pz.path())) || {};
  check(pz.suggestedFilename() === 'fs2020-cards.zip' && Object.keys(pzEntries).filter((n) => n.endsWith('.jpg')).length === 15,
        'without JavaScript "Make cards as a .zip" downloads the zip of 15 cards');
  await p2.goto(base + '/fs2020');
  await p2.setInputFiles('#files', files);
  await Promise.all([p2.waitForURL(base + '/api/fs2020', { timeout: 15000 * slow }), p2.click('#make')]);
  const plainCards = await p2.$$eval('figure.card img', (imgs) => imgs.map((i) => i.naturalWidth));
  check(plainCards.length === 15 && plainCards.every((w) => w === 1920), `without JavaScript the form answers 15 cards (${plainCards.length})`);
  await plain.close();
} catch (e) {
  check(false, `the run: ${e.stack || e}`);
  if (page) console.log(`page status: ${await page.locator('#status').innerText().catch(() => '-')}; ` +
                        `console: ${problems.join(' | ')}`);
} finally {
  await browser.close();
  srv.kill('SIGTERM');
}
const code = await new Promise((resolve) => srv.on('exit', (c, sig) => resolve(c ?? (sig === 'SIGTERM' ? 0 : 1))));
check(code === 0 && !/ERROR: (Address|Thread|Leak)Sanitizer|runtime error/.test(output()), `the server stopped cleanly (${code})`);
console.log(`${failures ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
