// 1.3: the posterior of a Gaussian process with a squared-exponential kernel, computed here
// from the closed form (Cholesky), as gp_posterior does on the page.
PRExplore.register('gp', function ({ data, svg, controls, out, panel, pathD, bandD, slider, readouts, make }) {
  const ctl = Object.fromEntries(data.controls.map((c) => [c.name, slider(controls, c)]));
  const show = readouts(out, data.readouts);
  const p = panel(svg, [60, 12, 640, 230], data.xlim, data.ylim, data.xlabel, data.ylabel);
  const band = make(p.plot, 'svg:path', { class: 'pr-band', fill: '#0072B2', 'fill-opacity': 0.18 });
  const mean = make(p.plot, 'svg:path', { fill: 'none', stroke: '#0072B2', 'stroke-width': 2 });
  const dots = data.x.map((v, i) => make(p.plot, 'svg:circle', { cx: p.x(v), cy: p.y(data.y[i]), r: 3 }));
  const kern = (a, b, s2, l) => s2 * Math.exp(-((a - b) ** 2) / (2 * l * l));

  function cholesky(A) {
    const n = A.length, L = A.map(() => new Float64Array(n));
    for (let j = 0; j < n; j++) {
      let d = A[j][j];
      for (let k = 0; k < j; k++) d -= L[j][k] ** 2;
      if (!(d > 0)) throw new Error('not positive definite');
      L[j][j] = Math.sqrt(d);
      for (let i = j + 1; i < n; i++) {
        let s = A[i][j];
        for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
        L[i][j] = s / L[j][j];
      }
    }
    return L;
  }
  const forward = (L, b) => { const z = []; b.forEach((v, i) => { let s = v; for (let k = 0; k < i; k++) s -= L[i][k] * z[k]; z.push(s / L[i][i]); }); return z; };
  const backward = (L, z) => { const n = z.length, a = new Array(n); for (let i = n - 1; i >= 0; i--) { let s = z[i]; for (let k = i + 1; k < n; k++) s -= L[k][i] * a[k]; a[i] = s / L[i][i]; } return a; };

  return function draw() {
    const n = ctl.observed(), l = ctl.lengthscale(), s2 = ctl.variance(), noise = ctl.noise();
    const idx = data.order.slice(0, n), xo = idx.map((i) => data.x[i]), yo = idx.map((i) => data.y[i]);
    const L = cholesky(xo.map((a, i) => xo.map((b, j) => kern(a, b, s2, l) + (i === j ? noise : 0))));
    const z = forward(L, yo), alpha = backward(L, z);
    const mu = [], sd = [];
    for (const xs of data.xs) {
      const k = xo.map((a) => kern(a, xs, s2, l));
      const v = forward(L, k);
      mu.push(k.reduce((s, ki, i) => s + ki * alpha[i], 0));
      sd.push(Math.sqrt(Math.max(s2 - v.reduce((s, vi) => s + vi * vi, 0), 0)));
    }
    const lml = -0.5 * z.reduce((s, v) => s + v * v, 0) - L.reduce((s, row, i) => s + Math.log(row[i]), 0)
                - 0.5 * n * Math.log(2 * Math.PI);
    mean.setAttribute('d', pathD(data.xs, mu, p.x, p.y));
    band.setAttribute('d', bandD(data.xs, mu.map((m, i) => m - 2 * sd[i]), mu.map((m, i) => m + 2 * sd[i]), p.x, p.y));
    const seen = new Set(idx);
    dots.forEach((d, i) => d.setAttribute('class', seen.has(i) ? 'pr-seen' : 'pr-unseen'));
    show({ lml });
    return { n, lengthscale: l, variance: s2, noise, mean: mu, sd, lml, d: mean.getAttribute('d') };
  };
});
