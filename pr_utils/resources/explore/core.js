// pr_utils.explore: the shared part of the book's interactive figures. Each figure is
// one cell output, self-contained (this file and the figure's own script are inlined),
// so it works on the static site offline, in Colab and in Jupyter alike. A figure
// registers a `kind`; PRExplore.mount(id) reads the data that Python embedded as JSON,
// builds the sliders and draws; after every draw root.prState holds what is shown, for
// the browser test. Labels are {en, zh}: the page's <html lang> picks one.
(function () {
  'use strict';
  if (window.PRExplore) return;
  const SVG = 'http://www.w3.org/2000/svg';
  const kinds = {};
  const zh = () => /^zh/i.test(document.documentElement.lang || '');
  const t = (s) => (s && typeof s === 'object' ? (zh() && s.zh) || s.en : String(s));

  function make(parent, tag, attrs, text) {
    const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4))
                                     : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function linear(d0, d1, r0, r1) {
    const f = (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
    return f;
  }

  function ticks(d0, d1, n) {
    const raw = (d1 - d0) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(d0 / step) * step; v <= d1 + step * 1e-9; v += step)
      out.push(+v.toPrecision(12));
    return out;
  }

  // A plot area inside `svg` at box [left, top, width, height], with axes, ticks and labels.
  function panel(svg, box, xd, yd, xlabel, ylabel) {
    const [l, tp, w, h] = box;
    const x = linear(xd[0], xd[1], l, l + w);
    const y = linear(yd[0], yd[1], tp + h, tp);
    const g = make(svg, 'svg:g', { class: 'pr-panel' });
    make(g, 'svg:rect', { x: l, y: tp, width: w, height: h, class: 'pr-frame' });
    for (const v of ticks(xd[0], xd[1], 5)) {
      make(g, 'svg:line', { x1: x(v), x2: x(v), y1: tp + h, y2: tp + h + 4, class: 'pr-tick' });
      make(g, 'svg:text', { x: x(v), y: tp + h + 16, class: 'pr-tick-label', 'text-anchor': 'middle' }, fmt(v));
    }
    for (const v of ticks(yd[0], yd[1], 4)) {
      make(g, 'svg:line', { x1: l - 4, x2: l, y1: y(v), y2: y(v), class: 'pr-tick' });
      make(g, 'svg:text', { x: l - 7, y: y(v) + 4, class: 'pr-tick-label', 'text-anchor': 'end' }, fmt(v));
    }
    make(g, 'svg:text', { x: l + w / 2, y: tp + h + 34, class: 'pr-axis-label', 'text-anchor': 'middle' }, t(xlabel));
    make(g, 'svg:text', { transform: `translate(${l - 42},${tp + h / 2}) rotate(-90)`,
                          class: 'pr-axis-label', 'text-anchor': 'middle' }, t(ylabel));
    const clip = 'pr-clip-' + Math.random().toString(36).slice(2);
    make(make(g, 'svg:clipPath', { id: clip }), 'svg:rect', { x: l, y: tp, width: w, height: h });
    const plot = make(g, 'svg:g', { 'clip-path': `url(#${clip})` });
    return { g, plot, x, y };
  }

  const fmt = (v) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1)
                      : String(+v.toPrecision(4)));
  const points = (xs, ys, x, y) => xs.map((v, i) => `${x(v).toFixed(2)},${y(ys[i]).toFixed(2)}`);
  const pathD = (xs, ys, x, y) => 'M' + points(xs, ys, x, y).join('L');
  const bandD = (xs, lo, hi, x, y) =>
    'M' + points(xs, lo, x, y).join('L') + 'L' + points(xs.slice().reverse(), hi.slice().reverse(), x, y).join('L') + 'Z';

  // One slider over a list of values Python chose; returns the control's current value.
  function slider(box, spec) {
    const row = make(box, 'label', { class: 'pr-control' });
    make(row, 'span', { class: 'pr-control-name' }, t(spec.label));
    const input = make(row, 'input', { type: 'range', min: 0, max: spec.values.length - 1,
                                       step: 1, value: spec.index, 'data-name': spec.name });
    const shown = make(row, 'output', { class: 'pr-control-value' });
    const value = () => spec.values[+input.value];
    const show = () => { shown.textContent = spec.names ? t(spec.names[+input.value]) : fmt(value()); };
    input.addEventListener('input', show);
    show();
    return value;
  }

  function readouts(box, specs) {
    const cells = {};
    for (const [name, label] of Object.entries(specs)) {
      const item = make(box, 'span', { class: 'pr-readout', 'data-name': name });
      make(item, 'span', {}, t(label) + ' ');
      cells[name] = make(item, 'b', {});
    }
    return (values) => {
      for (const [name, v] of Object.entries(values)) cells[name].textContent = typeof v === 'number' ? fmt(v) : v;
    };
  }

  function mount(id) {
    const root = document.getElementById(id);
    const kind = root && kinds[root.dataset.kind];
    if (!kind) throw new Error(`no interactive figure of kind ${root && root.dataset.kind}`);
    const data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
    root.querySelectorAll('.pr-title, .pr-figure, .pr-controls, .pr-readouts, .pr-hint').forEach((e) => e.remove());
    if (data.title) make(root, 'div', { class: 'pr-title' }, t(data.title));
    const svg = make(root, 'svg:svg', { viewBox: `0 0 ${data.width || 720} ${data.height || 300}`,
                                        class: 'pr-figure', role: 'img', 'aria-label': t(data.title || '') });
    const controls = make(root, 'div', { class: 'pr-controls' });
    const out = make(root, 'div', { class: 'pr-readouts' });
    if (data.hint) make(root, 'div', { class: 'pr-hint' }, t(data.hint));
    const draw = kind({ root, data, svg, controls, out, t, make, panel, pathD, bandD, slider, readouts, fmt });
    const redraw = () => { root.prState = draw(); root.dataset.renders = +(root.dataset.renders || 0) + 1; };
    root.addEventListener('pr-redraw', redraw);
    root.querySelectorAll('.pr-controls input, .pr-controls select')
        .forEach((c) => c.addEventListener('input', redraw));
    redraw();
  }

  function register(name, init) {
    kinds[name] = init;
  }

  window.PRExplore = { register, mount };
})();
