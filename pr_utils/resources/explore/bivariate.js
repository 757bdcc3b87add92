// 1.2: a bivariate Gaussian with unit variances and correlation rho, and the conditional
// of Y2 given Y1 = y1 from the closed form (Schur complement), as `condition` on the page.
PRExplore.register('bivariate', function ({ data, svg, controls, out, panel, pathD, slider, readouts, make }) {
  const ctl = Object.fromEntries(data.controls.map((c) => [c.name, slider(controls, c)]));
  const show = readouts(out, data.readouts);
  const lim = [-3.5, 3.5];
  const a = panel(svg, [60, 12, 300, 250], lim, lim, data.labels.y1, data.labels.y2);
  const b = panel(svg, [440, 12, 260, 250], [0, 1.5], lim, data.labels.density, data.labels.y2);
  const ellipses = [1, 2].map((r) => make(a.plot, 'svg:path', { fill: 'none', stroke: '#0072B2', 'stroke-width': 1.5, 'stroke-opacity': r === 1 ? 1 : 0.5 }));
  const cut = make(a.plot, 'svg:line', { stroke: '#D55E00', 'stroke-width': 1.5, 'stroke-dasharray': '4 3' });
  const bar = make(a.plot, 'svg:line', { stroke: '#D55E00', 'stroke-width': 4, 'stroke-opacity': 0.6 });
  const dot = make(a.plot, 'svg:circle', { r: 4.5, fill: '#D55E00' });
  const marginal = make(b.plot, 'svg:path', { fill: 'none', stroke: '#8c959f', 'stroke-width': 1.5, 'stroke-dasharray': '5 3' });
  const conditional = make(b.plot, 'svg:path', { fill: 'none', stroke: '#D55E00', 'stroke-width': 2 });
  const ys = Array.from({ length: 201 }, (_, i) => lim[0] + ((lim[1] - lim[0]) * i) / 200);
  const pdf = (y, m, v) => Math.exp(-0.5 * (y - m) ** 2 / v) / Math.sqrt(2 * Math.PI * v);
  marginal.setAttribute('d', pathD(ys.map((y) => pdf(y, 0, 1)), ys, b.x, b.y));

  return function draw() {
    const rho = ctl.rho(), y1 = ctl.y1();
    const [s11, s12, s22] = [1, rho, 1];
    const mean = (s12 / s11) * y1, variance = s22 - (s12 * s12) / s11, sd = Math.sqrt(variance);
    // the ellipse of Mahalanobis radius r: [Y1, Y2] = L [r cos t, r sin t], L the Cholesky factor
    const l21 = s12 / Math.sqrt(s11), l22 = Math.sqrt(s22 - l21 * l21), ts = [...Array(121).keys()].map((i) => (2 * Math.PI * i) / 120);
    [1, 2].forEach((r, k) => ellipses[k].setAttribute('d', pathD(
      ts.map((t) => Math.sqrt(s11) * r * Math.cos(t)), ts.map((t) => l21 * r * Math.cos(t) + l22 * r * Math.sin(t)), a.x, a.y) + 'Z'));
    for (const [e, attrs] of [[cut, { x1: a.x(y1), x2: a.x(y1), y1: a.y(lim[0]), y2: a.y(lim[1]) }],
                              [bar, { x1: a.x(y1), x2: a.x(y1), y1: a.y(mean - 2 * sd), y2: a.y(mean + 2 * sd) }],
                              [dot, { cx: a.x(y1), cy: a.y(mean) }]])
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    const density = ys.map((y) => pdf(y, mean, variance));
    conditional.setAttribute('d', pathD(density.map((d) => Math.min(d, 1.5)), ys, b.x, b.y));
    show({ mean, sd });
    return { rho, y1, mean, sd, density, ys, d: conditional.getAttribute('d') };
  };
});
