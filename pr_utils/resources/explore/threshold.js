// 3.3: a lesion probability map (quantised to k/255) thresholded at t: the voxels with
// k/255 >= t are the predicted lesion. Dice = 2TP / (2TP + FP + FN), sensitivity =
// TP / (TP + FN) and precision = TP / (TP + FP) are counted here; the 95th-percentile
// Hausdorff distance comes from Python (MONAI), one value per threshold.
PRExplore.register('threshold', function ({ data, svg, controls, out, panel, pathD, slider, readouts, make, t }) {
  const threshold = slider(controls, data.controls[0]);
  const show = readouts(out, data.readouts);
  const L = data.labels, [H, W] = data.shape, ts = data.controls[0].values;
  const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const grey = bytes(data.image), k = bytes(data.probability);
  const truth = new Uint8Array(H * W);
  data.reference.forEach((i) => { truth[i] = 1; });

  // the counts at every threshold, for the curves and the readouts
  const scores = ts.map((th) => {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < H * W; i++) {
      const pred = k[i] / 255 >= th;
      if (pred && truth[i]) tp++; else if (pred) fp++; else if (truth[i]) fn++;
    }
    return { tp, fp, fn, dice: (2 * tp) / (2 * tp + fp + fn), sensitivity: tp / (tp + fn),
             precision: tp + fp > 0 ? tp / (tp + fp) : null };
  });

  // left: the slice, scaled to fit, with the mask drawn into a canvas and the contour as a path
  const s = Math.min(370 / W, 400 / H), ox = 10 + (370 - W * s) / 2, oy = 30;
  make(svg, 'svg:text', { x: 10 + 185, y: 18, 'text-anchor': 'middle', class: 'pr-axis-label' }, t(L.image));
  const picture = make(svg, 'svg:image', { x: ox, y: oy, width: W * s, height: H * s, style: 'image-rendering: pixelated' });
  const canvas = document.createElement('canvas');
  canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext('2d'), im = ctx.createImageData(W, H);
  let edges = '';  // the reference's outline: every voxel side between lesion and not lesion
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++) {
      if (!truth[r * W + c]) continue;
      if (r === 0 || !truth[(r - 1) * W + c]) edges += `M${c} ${r}h1`;
      if (r === H - 1 || !truth[(r + 1) * W + c]) edges += `M${c} ${r + 1}h1`;
      if (c === 0 || !truth[r * W + c - 1]) edges += `M${c} ${r}v1`;
      if (c === W - 1 || !truth[r * W + c + 1]) edges += `M${c + 1} ${r}v1`;
    }
  make(make(svg, 'svg:g', { transform: `translate(${ox},${oy}) scale(${s})` }), 'svg:path',
       { d: edges, fill: 'none', stroke: '#0072B2', 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' });

  // right: the scores and HD95 against the threshold
  const colours = ['#000000', '#009E73', '#CC79A7'];
  const top = panel(svg, [450, 14, 255, 165], [0, 1], [0, 1], '', L.score);
  const finite = data.hd95.filter((v) => v !== null);
  const hdMax = Math.max(1, ...finite) * 1.1;
  const bottom = panel(svg, [450, 250, 255, 140], [0, 1], [0, hdMax], L.threshold, L.hd);
  ['dice', 'sensitivity', 'precision'].forEach((key, j) => {
    const idx = ts.map((_, i) => i).filter((i) => scores[i][key] !== null);
    make(top.plot, 'svg:path', { d: pathD(idx.map((i) => ts[i]), idx.map((i) => scores[i][key]), top.x, top.y),
                                 fill: 'none', stroke: colours[j], 'stroke-width': 1.8 });
    make(top.g, 'svg:line', { x1: 440 + 90 * j, x2: 458 + 90 * j, y1: 212, y2: 212, stroke: colours[j], 'stroke-width': 2 });
    make(top.g, 'svg:text', { x: 462 + 90 * j, y: 216, class: 'pr-legend' }, t(L.legend[j]));
  });
  const hdIdx = ts.map((_, i) => i).filter((i) => data.hd95[i] !== null);
  make(bottom.plot, 'svg:path', { d: pathD(hdIdx.map((i) => ts[i]), hdIdx.map((i) => data.hd95[i]), bottom.x, bottom.y),
                                  fill: 'none', stroke: '#D55E00', 'stroke-width': 1.8 });
  const marks = [top, bottom].map((p) => make(p.plot, 'svg:line', { y1: 0, y2: 400, stroke: '#57606a', 'stroke-dasharray': '4 3' }));

  return function draw() {
    const th = threshold(), i = ts.indexOf(th), sc = scores[i], hd = data.hd95[i];
    for (let v = 0; v < H * W; v++) {
      const g = grey[v], pred = k[v] / 255 >= th;
      // predicted voxels: 60% orange over the grey slice
      im.data.set(pred ? [0.4 * g + 0.6 * 213, 0.4 * g + 0.6 * 94, 0.4 * g, 255] : [g, g, g, 255], 4 * v);
    }
    ctx.putImageData(im, 0, 0);
    picture.setAttribute('href', canvas.toDataURL());
    marks.forEach((m, j) => { const x = [top, bottom][j].x(th); m.setAttribute('x1', x); m.setAttribute('x2', x); });
    const dash = '—';
    show({ dice: sc.dice, sensitivity: sc.sensitivity, precision: sc.precision === null ? dash : sc.precision,
           hd95: hd === null ? dash : hd, voxels: `${sc.tp + sc.fp} / ${sc.tp + sc.fn}` });
    return { threshold: th, dice: sc.dice, sensitivity: sc.sensitivity, precision: sc.precision, hd95: hd,
             predicted: sc.tp + sc.fp, reference: sc.tp + sc.fn, href: picture.getAttribute('href').length };
  };
});
