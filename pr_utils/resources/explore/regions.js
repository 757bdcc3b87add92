// 1.1: decision regions of a generative classifier (one Gaussian per class + Bayes' rule) and a
// discriminative one (logistic regression), from the parameters Python fitted on the first n
// training cases. The generative model's class prior can be changed without refitting.
PRExplore.register('regions', function ({ data, svg, controls, out, panel, slider, readouts, make, t }) {
  const ctl = Object.fromEntries(data.controls.map((c) => [c.name, slider(controls, c)]));
  const show = readouts(out, data.readouts);
  const lim = data.lim, G = data.grid;
  const boxes = [[60, 28, 280, 280], [420, 28, 280, 280]];
  const panels = boxes.map((box) => {
    const p = panel(svg, box, lim, lim, data.labels.x, data.labels.y);
    p.image = make(p.plot, 'svg:image', { x: box[0], y: box[1], width: box[2], height: box[3], preserveAspectRatio: 'none' });
    p.dots = make(p.plot, 'svg:g', {});
    return p;
  });
  boxes.forEach((box, k) => make(svg, 'svg:text', { x: box[0] + box[2] / 2, y: 18, 'text-anchor': 'middle', class: 'pr-axis-label' },
                                 t(data.labels.models[k])));
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = G;
  const xs = Array.from({ length: G }, (_, i) => lim[0] + ((lim[1] - lim[0]) * (i + 0.5)) / G);

  function logGauss(x, m, S) {  // log N(x; m, S) in two dimensions
    const det = S[0][0] * S[1][1] - S[0][1] * S[1][0], a = x[0] - m[0], b = x[1] - m[1];
    const q = (S[1][1] * a * a - 2 * S[0][1] * a * b + S[0][0] * b * b) / det;
    return -0.5 * q - 0.5 * Math.log(det) - Math.log(2 * Math.PI);
  }
  const generative = (f, prior, x) => {
    const l0 = logGauss(x, f.means[0], f.covs[0]) + Math.log(1 - prior), l1 = logGauss(x, f.means[1], f.covs[1]) + Math.log(prior);
    return 1 / (1 + Math.exp(l0 - l1));
  };
  const discriminative = (f, x) => 1 / (1 + Math.exp(-(f.w[0] * x[0] + f.w[1] * x[1] + f.b)));

  function paint(p, prob) {  // p(malignant | x) on the grid: orange above 0.5, blue below
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(G, G);
    prob.forEach((v, k) => {
      const i = k % G, j = G - 1 - Math.floor(k / G), o = 4 * (j * G + i), s = Math.abs(v - 0.5) * 2;
      const [r, g, b] = v > 0.5 ? [213, 94, 0] : [0, 114, 178];
      img.data.set([r, g, b, 40 + 90 * s], o);
    });
    ctx.putImageData(img, 0, 0);
    p.image.setAttribute('href', canvas.toDataURL());
  }
  function dots(p, idx) {
    p.dots.replaceChildren();
    for (const i of idx) {
      const [x, y] = data.train_x[i], c = data.train_y[i];
      make(p.dots, c ? 'svg:rect' : 'svg:circle', c ? { x: p.x(x) - 2.5, y: p.y(y) - 2.5, width: 5, height: 5, class: 'pr-class1' }
                                                      : { cx: p.x(x), cy: p.y(y), r: 2.6, class: 'pr-class0' });
    }
  }

  return function draw() {
    const n = ctl.n(), f = data.fits.find((fit) => fit.n === n), prior = ctl.prior();
    const gen = [], disc = [];
    for (const y of xs) for (const x of xs) { gen.push(generative(f, prior, [x, y])); disc.push(discriminative(f, [x, y])); }
    paint(panels[0], gen);
    paint(panels[1], disc);
    panels.forEach((p) => dots(p, f.train));
    const acc = (pr) => data.test_x.filter((x, i) => (pr(x) > 0.5 ? 1 : 0) === data.test_y[i]).length / data.test_y.length;
    const test_gen = data.test_x.map((x) => generative(f, prior, x)), test_disc = data.test_x.map((x) => discriminative(f, x));
    const accuracy = { generative: acc((x) => generative(f, prior, x)), discriminative: acc((x) => discriminative(f, x)) };
    show(accuracy);
    return { n, prior, accuracy, test_gen, test_disc, grid_gen: gen, grid_disc: disc, href: panels[0].image.getAttribute('href').length };
  };
});
