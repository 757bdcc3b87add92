// 3.3: one lesion voxel (lesion probability p = softmax of its logits, z its lesion logit) in
// an image of N voxels: a lesion of m voxels, the other m - 1 at lesion probability q, and
// N - m background voxels at b. With dp/dz = p (1 - p), in closed form:
//   cross-entropy, mean over the N voxels (F.cross_entropy):
//     L = -[ln p + (m - 1) ln q + (N - m) ln(1 - b)] / N,        dL/dz = (p - 1) / N
//   soft Dice of the lesion class (MONAI's DiceLoss, include_background=False, smooth e):
//     I = p + (m - 1) q,  D = m + I + (N - m) b + e,  L = 1 - (2 I + e) / D,
//     dL/dp = -(2 D - (2 I + e)) / D^2,                         dL/dz = dL/dp * p (1 - p)
// The left panel shows what the marked voxel adds to each loss, L(p) - L(1) (log scale).
PRExplore.register('losses', function ({ data, svg, controls, out, panel, pathD, slider, readouts, make, t }) {
  const ctl = Object.fromEntries(data.controls.map((c) => [c.name, slider(controls, c)]));
  const show = readouts(out, data.readouts);
  const L = data.labels, N = data.n, e = data.smooth;
  const c = data.curve, ps = Array.from({ length: c.n }, (_, i) => c.from + (i * (c.to - c.from)) / (c.n - 1));

  function losses(p, m, q, b) {
    const ce = -(Math.log(p) + (m - 1) * Math.log(q) + (N - m) * Math.log1p(-b)) / N;
    const I = p + (m - 1) * q, D = m + I + (N - m) * b + e;
    const dice = 1 - (2 * I + e) / D;
    return { ce, dice, dce: (p - 1) / N, ddice: (-(2 * D - (2 * I + e)) / (D * D)) * p * (1 - p) };
  }

  // log-scale y axes: the panels plot log10 of the value; the tick labels say 10^k
  const sup = (s) => s.replace(/[-0-9]/g, (ch) => '⁻⁰¹²³⁴⁵⁶⁷⁸⁹'['-0123456789'.indexOf(ch)]);
  function logPanel(box, lo, hi, ylabel) {
    const p = panel(svg, box, [0, 1], [lo, hi], L.p, ylabel);
    p.g.querySelectorAll('text.pr-tick-label[text-anchor="end"]').forEach((el) => { el.textContent = '10' + sup(el.textContent); });
    return p;
  }
  const panels = [logPanel([70, 14, 270, 220], -8, 0, L.loss), logPanel([430, 14, 270, 220], -8, 0, L.grad)];
  const colours = ['#0072B2', '#D55E00'];
  const lines = panels.map((p) => colours.map((col) => make(p.plot, 'svg:path', { fill: 'none', stroke: col, 'stroke-width': 2 })));
  const marks = panels.map((p) => make(p.plot, 'svg:line', { y1: 0, y2: 300, stroke: '#57606a', 'stroke-dasharray': '4 3' }));
  const dots = panels.map((p) => colours.map((col) => make(p.plot, 'svg:circle', { r: 4.5, fill: col, stroke: '#fff' })));
  colours.forEach((col, j) => {
    make(svg, 'svg:line', { x1: 230 + 200 * j, x2: 252 + 200 * j, y1: 289, y2: 289, stroke: col, 'stroke-width': 2.5 });
    make(svg, 'svg:text', { x: 258 + 200 * j, y: 293, class: 'pr-legend' }, t(L.legend[j]));
  });
  const lg = (v) => Math.log10(Math.max(Math.abs(v), 1e-300));

  return function draw() {
    const p = ctl.p(), m = ctl.m(), q = ctl.q(), b = ctl.b();
    const curves = ps.map((x) => losses(x, m, q, b)), here = losses(p, m, q, b), best = losses(1, m, q, b);
    const series = [[(r) => r.ce - best.ce, (r) => r.dice - best.dice], [(r) => r.dce, (r) => r.ddice]];
    panels.forEach((pn, i) => {
      series[i].forEach((f, j) => {
        lines[i][j].setAttribute('d', pathD(ps, curves.map((r) => lg(f(r))), pn.x, pn.y));
        dots[i][j].setAttribute('cx', pn.x(p));
        dots[i][j].setAttribute('cy', pn.y(lg(f(here))));
      });
      marks[i].setAttribute('x1', pn.x(p));
      marks[i].setAttribute('x2', pn.x(p));
    });
    show({ ce: here.ce, dice: here.dice, gce: Math.abs(here.dce), gdice: Math.abs(here.ddice),
           ratio: here.ddice / here.dce });
    return { p, m, q, b, n: N, ...here, d: lines[1][1].getAttribute('d') };
  };
});
