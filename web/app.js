// leanpix serve's card pages: the upload form made friendlier. Without this script the form
// is a plain POST (/api/GAME answers a page with the cards; the .zip button posts to
// /v1/cards/GAME?format=zip). With it:
//   - files chosen (several at once, or several times) or dropped on the page are listed,
//     each removable; the list is what is uploaded;
//   - one upload to /v1/cards/GAME with Accept: multipart/mixed: the JSON part names the
//     cards (placeholders captioned with the device's name appear at once), then each card
//     is shown as soon as its part has arrived;
//   - a download button per card (its JPEG, kept as a blob) and "Download all": the same
//     files posted with ?format=zip (the server's zip, so there is one zip writer);
//   - the log as a list under the cards.
// No framework, no CDN; the page's Content-Security-Policy allows scripts from this server only.
'use strict';
(function () {
  document.documentElement.classList.add('js');

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function size(n) {
    return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' kB' : (n / 1048576).toFixed(1) + ' MB';
  }

  function saveBlob(blob, name) {
    const a = el('a', { href: URL.createObjectURL(blob), download: name });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }

  // The plain form's result page: a download button under each card (from its data: URL).
  function enhanceResultPage() {
    for (const fig of document.querySelectorAll('figure.card[data-filename]')) {
      const img = fig.querySelector('img');
      const cap = fig.querySelector('figcaption');
      if (!img || !cap) continue;
      const a = el('a', { class: 'button', href: img.src, download: fig.dataset.filename }, 'Download');
      a.appendChild(el('span', { class: 'vh' }, ' ' + img.alt));
      cap.appendChild(a);
    }
  }

  // ---- multipart/mixed, read as it arrives ----
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  function indexOf(buf, len, pat, from) {
    outer: for (let i = from; i + pat.length <= len; i++) {
      for (let j = 0; j < pat.length; j++) if (buf[i + j] !== pat[j]) continue outer;
      return i;
    }
    return -1;
  }

  // Calls onPart(headers, bytes) for each part of a multipart body as soon as it is complete.
  async function readMultipart(response, boundary, onPart) {
    const reader = response.body.getReader();
    const delim = enc.encode('--' + boundary);
    const crlf2 = enc.encode('\r\n\r\n');
    let buf = new Uint8Array(1 << 16), len = 0, pos = 0, done = false;
    async function more() {  // appends the next chunk; offsets into buf stay valid
      const r = await reader.read();
      if (r.done) { done = true; return; }
      if (len + r.value.length > buf.length) {
        let cap = buf.length;
        while (cap < len + r.value.length) cap *= 2;
        const nb = new Uint8Array(cap);
        nb.set(buf.subarray(0, len));
        buf = nb;
      }
      buf.set(r.value, len);
      len += r.value.length;
    }
    // the first delimiter
    let at;
    while ((at = indexOf(buf, len, delim, pos)) < 0 && !done) await more();
    if (at < 0) throw new Error('the answer is not multipart');
    pos = at + delim.length;
    for (;;) {
      while (len - pos < 2 && !done) await more();
      if (buf[pos] === 45 && buf[pos + 1] === 45) return;  // "--": the end
      let h;
      while ((h = indexOf(buf, len, crlf2, pos)) < 0 && !done) await more();
      if (h < 0) throw new Error('the answer ended inside a part');
      const headers = {};
      for (const line of dec.decode(buf.subarray(pos, h)).split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      const start = h + 4;
      let end;
      if (headers['content-length'] !== undefined) {
        end = start + Number(headers['content-length']);
        while (len < end && !done) await more();
      } else {
        const d2 = enc.encode('\r\n--' + boundary);
        while ((end = indexOf(buf, len, d2, start)) < 0 && !done) await more();
      }
      if (end < 0 || end > len) throw new Error('the answer ended inside a part');
      onPart(headers, buf.slice(start, end));
      while ((at = indexOf(buf, len, delim, end)) < 0 && !done) await more();
      if (at < 0) throw new Error('the answer ended inside a part');
      pos = at + delim.length;
    }
  }

  function uploadPage(form) {
    const game = form.dataset.game;
    const input = form.querySelector('#files');
    const drop = form.querySelector('#drop');
    const chosenBox = form.querySelector('#chosen');
    const make = form.querySelector('#make');
    const results = document.getElementById('results');
    const status = document.getElementById('status');
    const cardsBox = document.getElementById('cards');
    const all = document.getElementById('download-all');
    const logSection = document.getElementById('log-section');
    const logList = document.getElementById('log');
    let files = [];
    let busy = false;

    function say(text, error) {
      status.textContent = text;
      status.classList.toggle('error', !!error);
      status.setAttribute('role', error ? 'alert' : 'status');
    }

    function showChosen() {
      chosenBox.textContent = '';
      if (!files.length) return;
      chosenBox.appendChild(el('p', { class: 'hint' },
        files.length + (files.length === 1 ? ' file' : ' files') + ' chosen:'));
      const ol = el('ol');
      files.forEach((f, i) => {
        const li = el('li', {}, f.name + ' (' + size(f.size) + ')');
        const rm = el('button', { type: 'button', 'aria-label': 'Remove ' + f.name }, '\u00d7');
        rm.addEventListener('click', () => { files.splice(i, 1); showChosen(); input.focus(); });
        li.appendChild(rm);
        ol.appendChild(li);
      });
      chosenBox.appendChild(ol);
    }

    function add(list) {
      for (const f of list) {
        if (!files.some((g) => g.name === f.name && g.size === f.size && g.lastModified === f.lastModified))
          files.push(f);
      }
      showChosen();
    }

    input.addEventListener('change', () => { add(input.files); input.value = ''; });
    // the whole page takes drops, the box shows where they go
    for (const t of [document.body]) {
      t.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
      t.addEventListener('dragleave', (e) => { if (!e.relatedTarget) drop.classList.remove('over'); });
      t.addEventListener('drop', (e) => {
        e.preventDefault();
        drop.classList.remove('over');
        if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files);
      });
    }

    function formData() {
      const fd = new FormData();
      for (const f of files) fd.append('file', f, f.name);
      return fd;
    }

    async function failure(response) {
      const text = (await response.text()).trim();
      return text || response.status + ' ' + response.statusText;
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (busy) return;
      if (!files.length) { results.hidden = false; say('Choose one or more files first.', true); input.focus(); return; }
      busy = true;
      make.disabled = all.disabled = true;
      results.hidden = false;
      cardsBox.textContent = '';
      logList.textContent = '';
      logSection.hidden = true;
      say('Uploading ' + files.length + (files.length === 1 ? ' file' : ' files') + '\u2026');
      const figures = {};
      let total = 0, shown = 0;
      try {
        const response = await fetch('/v1/cards/' + game, {
          method: 'POST', body: formData(), headers: { Accept: 'multipart/mixed' } });
        const m = /boundary=([^;]+)/.exec(response.headers.get('Content-Type') || '');
        if (!response.ok || !m) throw new Error(await failure(response));
        await readMultipart(response, m[1].replace(/"/g, ''), (headers, bytes) => {
          if ((headers['content-type'] || '').startsWith('application/json')) {
            const answer = JSON.parse(dec.decode(bytes));
            total = answer.cards.length;
            for (const c of answer.cards) {
              const fig = el('figure', { class: 'card' });
              fig.appendChild(el('div', { class: 'pending', role: 'img', 'aria-label': c.title + ' (loading)' }));
              const cap = el('figcaption');
              cap.appendChild(el('span', {}, c.title));
              fig.appendChild(cap);
              cardsBox.appendChild(fig);
              figures[c.part] = { fig, cap, card: c };
            }
            for (const line of answer.log) logList.appendChild(el('li', {}, line));
            logSection.hidden = answer.log.length === 0;
            say(total ? 'Drawing ' + total + (total === 1 ? ' card' : ' cards') + '\u2026'
                      : 'No cards: none of the files named a supported device (see the log).', !total);
            return;
          }
          const id = (headers['content-id'] || '').replace(/[<>]/g, '');
          const f = figures[id];
          if (!f) return;
          const name = (/filename="([^"]+)"/.exec(headers['content-disposition'] || '') || [])[1] || id + '.jpg';
          const blob = new Blob([bytes], { type: 'image/jpeg' });
          const img = el('img', { src: URL.createObjectURL(blob), alt: f.card.title,
                                  width: f.card.width, height: f.card.height });
          f.fig.replaceChild(img, f.fig.firstChild);
          const a = el('a', { class: 'button', href: img.src, download: name }, 'Download');
          a.appendChild(el('span', { class: 'vh' }, ' ' + f.card.title));
          f.cap.appendChild(a);
          shown++;
          if (total) say(shown + ' of ' + total + ' cards');
        });
        if (total) say(total + (total === 1 ? ' card' : ' cards') + ' ready.');
        all.disabled = total === 0;
      } catch (err) {
        say('The cards could not be made: ' + err.message, true);
      } finally {
        busy = false;
        make.disabled = false;
      }
    });

    all.addEventListener('click', async () => {
      if (!files.length || busy) return;
      busy = true;
      all.disabled = true;
      say('Making the .zip\u2026');
      try {
        const response = await fetch('/v1/cards/' + game + '?format=zip', { method: 'POST', body: formData() });
        if (!response.ok) throw new Error(await failure(response));
        saveBlob(await response.blob(), game + '-cards.zip');
        say('The .zip is downloaded.');
      } catch (err) {
        say('The .zip could not be made: ' + err.message, true);
      } finally {
        busy = false;
        all.disabled = false;
      }
    });
  }

  // for tests/browser/pages.test.mjs: the reader, fed answers cut into small chunks
  window.leanpixPages = { readMultipart };

  function start() {
    const form = document.getElementById('upload');
    if (form && window.fetch && window.ReadableStream) uploadPage(form);
    enhanceResultPage();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
