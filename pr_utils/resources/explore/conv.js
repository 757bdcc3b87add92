// 2.3: a 3x3 filter slid over an image, as a Conv2d layer computes it (cross-correlation,
// no padding, stride 1): out[i][j] = sum_{a,b} w[a][b] * img[i+a][j+b].
PRExplore.register('conv', function ({ data, svg, controls, out, slider, readouts, make, t }) {
  const preset = slider(controls, data.controls[0]);
  const grid = make(controls, 'div', { class: 'pr-kernel' });
  const cells = Array.from({ length: 9 }, (_, k) => make(grid, 'input', { type: 'number', step: 0.25, 'data-name': `w${k}` }));
  const show = readouts(out, data.readouts);
  const H = data.size, O = H - 2;
  const img = Uint8Array.from(atob(data.image), (c) => c.charCodeAt(0));
  const boxes = [[20, 30, 320, 320], [380, 30, 320, 320]];
  const images = boxes.map((b, k) => {
    make(svg, 'svg:text', { x: b[0] + b[2] / 2, y: 20, 'text-anchor': 'middle', class: 'pr-axis-label' }, t(data.labels.panels[k]));
    return make(svg, 'svg:image', { x: b[0], y: b[1], width: b[2], height: b[3], style: 'image-rendering: pixelated' });
  });
  function picture(values, n, lo, hi) {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = n;
    const ctx = canvas.getContext('2d'), im = ctx.createImageData(n, n);
    values.forEach((v, k) => { const g = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo)))); im.data.set([g, g, g, 255], 4 * k); });
    ctx.putImageData(im, 0, 0);
    return canvas.toDataURL();
  }
  images[0].setAttribute('href', picture(Array.from(img, (v) => v / 255), H, 0, 1));
  let shown = -1;

  return function draw() {
    const p = preset();
    if (p !== shown) { data.kernels[p].flat().forEach((w, k) => { cells[k].value = w; }); shown = p; }
    const w = cells.map((c) => Number(c.value) || 0);
    const res = new Float64Array(O * O);
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++) {
        let s = 0;
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) s += w[3 * a + b] * img[(i + a) * H + j + b] / 255;
        res[i * O + j] = s;
      }
    let lo = Infinity, hi = -Infinity;
    for (const v of res) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    // signed maps: grey is 0; non-negative maps: black to white
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    images[1].setAttribute('href', lo < -1e-12 ? picture(res, O, -m, m) : picture(res, O, 0, hi || 1));
    show({ min: lo, max: hi });
    return { preset: p, kernel: w, output: Array.from(res), min: lo, max: hi, href: images[1].getAttribute('href').length };
  };
});
