// mvrun report: copy buttons (every page), and on seed pages the timeline
// (drawn as SVG from the page's JSON, with zoom, pan, hover and click) and
// the log's filters. No libraries, no network.
(function () {
  'use strict';

  function copyText(text, button) {
    var label = button.textContent;
    function done(ok) {
      button.textContent = ok ? 'copied' : 'select and copy';
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    function fallback() {
      var t = document.createElement('textarea');
      t.value = text;
      t.style.position = 'fixed';
      t.style.opacity = '0';
      document.body.appendChild(t);
      t.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      t.remove();
      return ok;
    }
    // The clipboard API needs a secure context and permission; file:// and
    // CI viewers may have neither, so fall back to a selected textarea.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback()); });
    } else {
      done(fallback());
    }
  }
  document.querySelectorAll('button.copy').forEach(function (b) {
    b.addEventListener('click', function () { copyText(b.dataset.copy, b); });
  });
  // On an hv seed's page every log row can be revisited: its button copies
  // the debug command for its timeline entry (the table's data-go plus the
  // row's data-e). One handler for the whole table keeps long logs light.
  var logt = document.getElementById('logt');
  if (logt && logt.dataset.go) {
    logt.querySelectorAll('tbody tr[data-e]').forEach(function (tr) {
      var b = document.createElement('button');
      b.className = 'go';
      b.textContent = '\u23F5';
      b.title = 'copy: ' + logt.dataset.go + tr.dataset.e;
      tr.cells[0].appendChild(b);
    });
    logt.addEventListener('click', function (e) {
      var b = e.target.closest('button.go');
      if (b) copyText(logt.dataset.go + b.closest('tr').dataset.e, b);
    });
  }

  var dataEl = document.getElementById('tldata');
  if (!dataEl || !document.getElementById('tl')) return;
  var d = JSON.parse(dataEl.textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var LABEL = 130, LANE = 28, AXIS = 22, PAD = 10;
  var svg = document.getElementById('tl');
  var box = document.getElementById('timeline');
  var tip = document.getElementById('tip');
  var detail = document.getElementById('detail');
  // A little room after the end, so a mark at the very end is whole.
  var full = { a: 0, b: Math.max(d.end * 1.015, 1) };
  var view = { a: full.a, b: full.b };
  var cursor = null, selected = null;
  var rows = Array.prototype.slice.call(document.querySelectorAll('#logt tbody tr'));

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function width() { return Math.max(box.clientWidth, 400); }
  function xOf(t, W) { return LABEL + (t - view.a) / (view.b - view.a) * (W - LABEL - PAD); }
  function tOf(x, W) { return view.a + (x - LABEL) / (W - LABEL - PAD) * (view.b - view.a); }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 5, 10];
    for (var i = 0; i < ms.length; i++) if (ms[i] * p >= raw) return ms[i] * p;
    return 10 * p;
  }
  function fmtT(t, step) {
    var digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step / 1000))));
    return (t / 1000).toFixed(digits) + 's';
  }
  // Sub-rows of a lane: 0 the main bar, 1 a strip at the bottom (partition
  // cuts on node lanes, link faults on the network lane), 2 a strip at the
  // top (clock offsets).
  function band(s, y) {
    if (s.row === 1) return [y + LANE - 7, 5];
    if (s.row === 2) return [y + 1, 6];
    if (d.lanes[s.l].kind === 'net') return [y + 3, LANE - 13];
    if (s.c.indexOf('paused') === 0) return [y + 6, LANE - 16];
    return [y + 4, LANE - 13];
  }

  function draw() {
    var W = width(), H = AXIS + d.lanes.length * LANE + 2;
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var clip = el('clipPath', { id: 'plot' }, el('defs', {}, svg));
    el('rect', { x: LABEL, y: 0, width: W - LABEL - PAD + 1, height: H }, clip);
    d.lanes.forEach(function (l, i) {
      el('rect', { x: 0, y: AXIS + i * LANE, width: W, height: LANE, 'class': 'lane ' + l.kind + (i % 2 ? ' odd' : '') }, svg);
    });
    var step = niceStep((view.b - view.a) / Math.max(2, Math.floor((W - LABEL) / 90)));
    for (var t = Math.ceil(view.a / step) * step; t <= view.b; t += step) {
      var X = xOf(t, W);
      el('line', { x1: X, x2: X, y1: AXIS - 4, y2: H, 'class': 'grid' }, svg);
      el('text', { x: X + 2, y: 13, 'class': 'ticklbl' }, svg).textContent = fmtT(t, step);
    }
    var g = el('g', { 'clip-path': 'url(#plot)' }, svg);
    d.spans.forEach(function (s, i) {
      if (s.b < view.a || s.a > view.b) return;
      var y = AXIS + s.l * LANE, bt = band(s, y);
      var x1 = Math.max(xOf(s.a, W), LABEL - 1), x2 = Math.min(xOf(s.b, W), W - PAD + 1);
      var r = el('rect', { x: x1, y: bt[0], width: Math.max(1.5, x2 - x1), height: bt[1], 'class': 'span ' + s.c, 'data-i': 's' + i }, g);
      if (s.r && s.r === selected) r.classList.add('sel');
      var fit = Math.floor((x2 - x1 - 6) / 6.2);
      if (s.t && fit >= 4 && s.row !== 2 && bt[1] > 8) {
        var txt = s.t.length > fit ? s.t.slice(0, fit - 1) + '…' : s.t;
        el('text', { x: x1 + 3, y: bt[0] + bt[1] - 3, 'class': 'spanlbl' }, g).textContent = txt;
      }
    });
    d.marks.forEach(function (m, i) {
      if (m.a < view.a || m.a > view.b) return;
      var X = xOf(m.a, W), Y = AXIS + m.l * LANE + LANE / 2 - 1, e, z;
      var kind = m.c.split(' ')[0], cls = 'mark ' + m.c + (m.f ? ' first' : '');
      switch (kind) {
        case 'pass': case 'false': e = el('circle', { cx: X, cy: Y, r: 3.2 }, g); break;
        case 'fail': z = m.f ? 8 : 6; e = el('polygon', { points: [X, Y - z, X + z, Y, X, Y + z, X - z, Y].join(' ') }, g); break;
        case 'kill': case 'crash': z = kind === 'crash' ? 7 : 5;
          e = el('path', { d: 'M' + (X - z) + ' ' + (Y - z) + 'L' + (X + z) + ' ' + (Y + z) + 'M' + (X - z) + ' ' + (Y + z) + 'L' + (X + z) + ' ' + (Y - z) }, g); break;
        case 'restart': e = el('polygon', { points: [X, Y - 6, X + 5.5, Y + 5, X - 5.5, Y + 5].join(' ') }, g); break;
        default: e = el('rect', { x: X - 2, y: Y - 7, width: 4, height: 14 }, g);
      }
      e.setAttribute('class', cls);
      e.setAttribute('data-i', 'm' + i);
      if (m.r && m.r === selected) e.classList.add('sel');
      // A wider invisible target makes thin marks easy to hover and click.
      el('rect', { x: X - 5, y: Y - 9, width: 10, height: 18, fill: 'transparent', 'data-i': 'm' + i }, g);
    });
    if (cursor !== null && cursor >= view.a && cursor <= view.b) {
      var cx = xOf(cursor, W);
      el('line', { x1: cx, x2: cx, y1: AXIS - 6, y2: H, 'class': 'cursor' }, svg);
    }
    el('rect', { x: 0, y: AXIS, width: LABEL - 2, height: H - AXIS, 'class': 'labelbg' }, svg);
    el('line', { x1: LABEL - 2, x2: LABEL - 2, y1: 0, y2: H, 'class': 'sep' }, svg);
    d.lanes.forEach(function (l, i) {
      var lbl = l.label.length > 18 ? l.label.slice(0, 17) + '…' : l.label;
      var t = el('text', { x: 6, y: AXIS + i * LANE + LANE / 2 + 4, 'class': 'lanelabel lane-' + l.kind, 'data-lane': l.label }, svg);
      t.textContent = lbl;
      el('title', {}, t).textContent = l.label;
    });
  }

  function item(target) {
    var i = target && target.getAttribute && target.getAttribute('data-i');
    if (!i) return null;
    return i[0] === 's' ? d.spans[+i.slice(1)] : d.marks[+i.slice(1)];
  }
  function zoom(factor, at) {
    var w = Math.min(full.b - full.a, Math.max(0.5, (view.b - view.a) * factor));
    if (at === undefined) at = (view.a + view.b) / 2;
    var frac = (at - view.a) / (view.b - view.a);
    view.a = at - frac * w;
    view.b = view.a + w;
    clampView();
    draw();
  }
  function clampView() {
    var w = view.b - view.a;
    if (view.a < full.a) { view.a = full.a; view.b = full.a + w; }
    if (view.b > full.b) { view.b = full.b; view.a = Math.max(full.a, full.b - w); }
  }
  function show(t) {
    if (t < view.a || t > view.b) {
      var w = view.b - view.a;
      view.a = t - w / 2;
      view.b = t + w / 2;
      clampView();
    }
  }

  box.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect(), W = width();
    zoom(e.deltaY < 0 ? 0.8 : 1.25, Math.max(view.a, Math.min(view.b, tOf(e.clientX - r.left, W))));
  }, { passive: false });
  var drag = null;
  box.addEventListener('mousedown', function (e) {
    drag = { x: e.clientX, a: view.a, b: view.b, moved: false };
    box.classList.add('panning');
  });
  window.addEventListener('mouseup', function () { box.classList.remove('panning'); setTimeout(function () { drag = null; }, 0); });
  window.addEventListener('mousemove', function (e) {
    if (drag && e.buttons === 1) {
      var dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      var dt = dx / (width() - LABEL - PAD) * (drag.b - drag.a);
      view.a = drag.a - dt;
      view.b = drag.b - dt;
      clampView();
      draw();
      tip.hidden = true;
      return;
    }
    var it = e.target && svg.contains(e.target) ? item(e.target) : null;
    if (!it) { tip.hidden = true; return; }
    tip.textContent = it.h;
    tip.hidden = false;
    var x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    var y = e.clientY + 16 + tip.offsetHeight > window.innerHeight ? e.clientY - tip.offsetHeight - 10 : e.clientY + 16;
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });
  svg.addEventListener('click', function (e) {
    if (drag && drag.moved) return;
    var it = item(e.target);
    if (!it) return;
    detail.hidden = false;
    detail.querySelector('pre').textContent = it.h;
    var j = detail.querySelector('a.jump');
    j.hidden = !it.r;
    if (it.r) j.setAttribute('href', '#' + it.r);
    selected = it.r || null;
    cursor = it.a;
    draw();
  });
  detail.querySelector('.close').addEventListener('click', function () { detail.hidden = true; });
  document.querySelectorAll('.tlbar button').forEach(function (b) {
    b.addEventListener('click', function () {
      var z = b.dataset.zoom;
      if (z === 'reset') { view.a = full.a; view.b = full.b; draw(); } else zoom(z === 'in' ? 0.5 : 2);
    });
  });
  window.addEventListener('resize', draw);

  // Log filters: by node, by kind, by text.
  var shown = document.getElementById('shown'), q = document.getElementById('q');
  function filter() {
    var off = {};
    document.querySelectorAll('.filters input[type=checkbox]').forEach(function (c) {
      if (!c.checked) off[c.dataset.f + ':' + c.value] = true;
    });
    var needle = q.value.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var hide = off['n:' + r.dataset.n] || off['k:' + r.dataset.k] || (needle && r.textContent.toLowerCase().indexOf(needle) < 0);
      r.hidden = !!hide;
      if (!hide) n++;
    });
    shown.textContent = n + ' of ' + rows.length + ' lines';
  }
  document.querySelectorAll('.filters input').forEach(function (c) { c.addEventListener('input', filter); });
  filter();

  // A fragment names a log line (L12), a property's first failing
  // evaluation (f-…) or a node output line: show it in the log and put the
  // timeline's cursor on its time.
  var lit = null;
  function focus() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var target = document.getElementById(id);
    if (!target) return;
    var row = target.closest('#logt tr');
    if (!row) { target.scrollIntoView({ block: 'center' }); return; }
    if (row.hidden) {
      document.querySelectorAll('.filters input[type=checkbox]').forEach(function (c) { c.checked = true; });
      q.value = '';
      filter();
    }
    if (lit) lit.classList.remove('hl');
    lit = row;
    row.classList.add('hl');
    row.scrollIntoView({ block: 'center' });
    selected = row.id;
    var t = parseFloat(row.dataset.t);
    if (!isNaN(t)) { cursor = t; show(t); }
    draw();
  }
  window.addEventListener('hashchange', focus);
  draw();
  focus();
})();
