/* bertviz_ui: a text alternative for every plotly chart (issue 18). The chart's paper <svg> gets role="img" and an
   aria-label (its title and what it shows); a <details> beside it ("Values of this chart") holds its values as tables.
   Both are rebuilt from the figure's own data (gd.data, gd.layout) on every plotly_afterplot, so they follow every
   redraw; one <details> per chart, reused (its open state and focus survive a redraw). A new value makes Gradio
   replace the whole chart (a new element): the focus then falls to the page, so the new chart gets it back, on its
   summary or on the same toolbar button, and its values open if they were.
   One script for every gr.Plot, in the page's head: the renderers stay plain plotly figures.
   The data hold user text: the DOM is built with textContent only, never innerHTML. */
(() => {
  "use strict";
  const MAX_ROWS = 40; // rows of one series' table; the rest are counted in a note
  const MATRIX_ROWS = 30; // a heatmap up to this size is shown whole...
  const MATRIX_COLS = 12;
  const TOP_CELLS = 20; // ...a larger one as its largest cells
  const MAX_SENTENCES = 6; // series described in the summary; the rest are counted
  const hooked = new WeakSet();
  // Per gr.Plot block (kept when Gradio replaces the chart inside it): whether its values are open.
  const opened = new WeakMap();
  // The chart part that has the focus, if one has: {block, summary: true} or {block, button: its data-title}. Kept
  // when the focus falls to the page with a replaced chart; anything else focused, or a click, forgets it.
  let chartFocus = null;
  const blockOf = (node) => node.closest(".block") || node.parentElement;

  const plain = (text) => String(text ?? "").replace(/<br\s*\/?>/gi, " ").replace(/<[^>]*>/g, "")
    .replace(/\s+/g, " ").trim();
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmt = (v) => (isNum(v) ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : plain(v));
  const list = (v, n) => (v == null ? [] : Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v)
    : Array.from({ length: n }, () => v));

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  function axis(gd, letter, ref) {
    const key = `${letter}axis${(ref || letter).slice(1)}`;
    const full = gd._fullLayout && gd._fullLayout[key];
    const given = gd.layout[key] || {};
    const title = given.title && typeof given.title === "object" ? given.title.text : given.title;
    return { title: plain(title), domain: (full && full.domain) || given.domain || [0, 1] };
  }

  // The subplot title make_subplots (or figures.stacked_layout) puts over the trace's axes, if any.
  function subplotTitle(gd, trace) {
    const x = axis(gd, "x", trace.xaxis).domain;
    const y = axis(gd, "y", trace.yaxis).domain;
    const found = (gd.layout.annotations || []).find((a) => a.xref === "paper" && a.yref === "paper"
      && a.yanchor === "bottom" && Math.abs(a.y - y[1]) < 1e-6 && a.x >= x[0] - 1e-6 && a.x <= x[1] + 1e-6);
    return found ? plain(found.text) : "";
  }

  function figureTitle(gd) {
    const title = gd.layout.title;
    const text = plain(title && typeof title === "object" ? title.text : title);
    const label = gd.parentElement && gd.parentElement.querySelector("label");
    return text || (label ? plain(label.textContent) : "Chart");
  }

  // One series as {caption, head, rows, note, sentence}; rows hold [text, number|null] cells.
  function barSeries(gd, trace, caption) {
    const horizontal = trace.orientation === "h";
    const values = list(horizontal ? trace.x : trace.y);
    const cats = list(horizontal ? trace.y : trace.x, values.length);
    const catAxis = axis(gd, horizontal ? "y" : "x", horizontal ? trace.yaxis : trace.xaxis).title;
    const valAxis = axis(gd, horizontal ? "x" : "y", horizontal ? trace.xaxis : trace.yaxis).title;
    const rows = values.map((v, i) => [cats[i] ?? i, v]);
    const shown = rows.filter((r) => isNum(r[1]));
    let sentence = `${caption}: ${values.length} bars`;
    if (shown.length) {
      const top = shown.reduce((a, b) => (b[1] > a[1] ? b : a));
      const low = shown.reduce((a, b) => (b[1] < a[1] ? b : a));
      sentence += `, highest ${plain(top[0])} (${fmt(top[1])}), lowest ${plain(low[0])} (${fmt(low[1])})`;
    }
    return { caption, head: [catAxis || "category", valAxis || "value"], rows, sentence: `${sentence}.` };
  }

  function labelAt(gd, x, y) {
    for (const t of gd.data) {
      if (t.type !== "scatter" || !String(t.mode || "").includes("text")) continue;
      const xs = list(t.x), ys = list(t.y), texts = list(t.text, xs.length);
      for (let i = 0; i < xs.length; i++) if (xs[i] === x && ys[i] === y && texts[i] != null) return plain(texts[i]);
    }
    return null;
  }

  function scatterSeries(gd, trace, caption) {
    const ys = list(trace.y);
    const xs = trace.x == null ? ys.map((_, i) => i) : list(trace.x, ys.length);
    const mode = String(trace.mode || "lines+markers");
    // Lines broken by nulls are separate segments (the head view's attention lines): name their ends.
    if (ys.some((v) => v == null) && mode.includes("lines")) {
      const rows = [];
      let start = null;
      xs.forEach((x, i) => {
        if (ys[i] == null || x == null) { start = null; return; }
        if (start != null) {
          rows.push([labelAt(gd, xs[start], ys[start]) ?? `(${fmt(xs[start])}, ${fmt(ys[start])})`,
            labelAt(gd, x, ys[i]) ?? `(${fmt(x)}, ${fmt(ys[i])})`]);
        }
        start = i;
      });
      return { caption, head: ["from", "to"], rows, sentence: `${caption}: ${rows.length} lines.` };
    }
    const xTitle = axis(gd, "x", trace.xaxis).title || "x";
    const yTitle = axis(gd, "y", trace.yaxis).title || "y";
    const texts = trace.text == null ? null : list(trace.text, ys.length);
    if (mode === "text" && texts) {
      const custom = trace.customdata == null ? null : list(trace.customdata, ys.length);
      const rows = texts.map((t, i) => (custom ? [t, plain(custom[i])] : [t]));
      return { caption, head: custom ? ["label", "details"] : ["label"], rows,
        sentence: `${caption}: ${rows.length} labels.` };
    }
    const rows = xs.map((x, i) => (texts ? [x, ys[i], texts[i]] : [x, ys[i]]));
    const shown = ys.filter(isNum);
    let sentence = `${caption}: ${ys.length} points`;
    if (shown.length) sentence += `, ${yTitle} from ${fmt(Math.min(...shown))} to ${fmt(Math.max(...shown))}`;
    return { caption, head: texts ? [xTitle, yTitle, "label"] : [xTitle, yTitle], rows, sentence: `${sentence}.` };
  }

  function heatmapSeries(gd, trace, caption) {
    const z = list(trace.z).map((row) => list(row));
    const cols = Math.max(0, ...z.map((r) => r.length));
    const xs = list(trace.x).length ? list(trace.x) : Array.from({ length: cols }, (_, i) => i);
    const ys = list(trace.y).length ? list(trace.y) : z.map((_, i) => i);
    const xTitle = axis(gd, "x", trace.xaxis).title;
    const yTitle = axis(gd, "y", trace.yaxis).title;
    const cells = [];
    z.forEach((row, i) => row.forEach((v, j) => { if (isNum(v)) cells.push([ys[i] ?? i, xs[j] ?? j, v]); }));
    cells.sort((a, b) => b[2] - a[2]);
    let sentence = `${caption}: a heatmap of ${z.length} rows by ${cols} columns`;
    if (cells.length) {
      const [top, low] = [cells[0], cells[cells.length - 1]];
      sentence += `, values from ${fmt(low[2])} to ${fmt(top[2])}; highest: ${plain(top[0])} and ${plain(top[1])}`;
    }
    if (z.length <= MATRIX_ROWS && cols <= MATRIX_COLS) {
      return { caption, head: [yTitle ? `${yTitle} \\ ${xTitle || "column"}` : "", ...xs.slice(0, cols)],
        rows: z.map((row, i) => [ys[i] ?? i, ...Array.from({ length: cols }, (_, j) => row[j] ?? null)]),
        sentence: `${sentence}.`, matrix: true };
    }
    const note = `The ${TOP_CELLS} largest of ${cells.length} values; ${cells.length - TOP_CELLS} left out.`;
    return { caption, head: [yTitle || "row", xTitle || "column", "value"], rows: cells.slice(0, TOP_CELLS),
      sentence: `${sentence}.`, note: cells.length > TOP_CELLS ? note : null };
  }

  function series(gd) {
    return gd.data.filter((t) => t.visible !== false).map((trace, i) => {
      const caption = [subplotTitle(gd, trace), plain(trace.name)].filter(Boolean).join(": ") || `series ${i + 1}`;
      if (trace.type === "bar") return barSeries(gd, trace, caption);
      if (trace.type === "heatmap") return heatmapSeries(gd, trace, caption);
      if (trace.type === "scatter" || trace.type === "scattergl") return scatterSeries(gd, trace, caption);
      return { caption, head: [], rows: [], sentence: `${caption}: a ${trace.type} chart.` };
    });
  }

  function table(part) {
    const node = el("table", null, { class: "bv-chart-table" });
    node.append(el("caption", part.caption));
    const head = el("tr");
    part.head.forEach((h) => head.append(el("th", plain(h), { scope: "col" })));
    const thead = el("thead");
    thead.append(head);
    node.append(thead);
    const body = el("tbody");
    part.rows.slice(0, MAX_ROWS).forEach((row) => {
      const tr = el("tr");
      row.forEach((cell, k) => tr.append(k === 0 ? el("th", fmt(cell), { scope: "row" })
        : el("td", cell == null ? "" : fmt(cell), isNum(cell) ? { "data-value": String(cell) } : {})));
      body.append(tr);
    });
    node.append(body);
    return node;
  }

  function refresh(gd) {
    const parent = gd.parentElement;
    if (!parent || !Array.isArray(gd.data)) return;
    let details = gd.nextElementSibling;
    if (!details || !details.classList.contains("bv-chart-values")) {
      details = el("details", null, { class: "bv-chart-values" });
      details.append(el("summary", "Values of this chart"));
      if (opened.get(blockOf(gd))) details.open = true;
      details.addEventListener("toggle", () => opened.set(blockOf(gd), details.open));
      gd.after(details);
    }
    details.bvFor = gd;
    const parts = series(gd);
    const title = figureTitle(gd);
    const sentences = parts.slice(0, MAX_SENTENCES).map((p) => p.sentence);
    if (parts.length > MAX_SENTENCES) sentences.push(`And ${parts.length - MAX_SENTENCES} more series.`);
    const label = `${title}. ${sentences.join(" ")} The values are in the table "Values of this chart" below.`;
    const svgs = gd.querySelectorAll(".main-svg");
    svgs.forEach((svg, k) => {
      if (k === 0) {
        svg.setAttribute("role", "img");
        svg.setAttribute("aria-label", label);
      } else {
        svg.setAttribute("aria-hidden", "true"); // hover labels and the top layer: the label above says it all
      }
    });
    const blocks = [];
    parts.forEach((part) => {
      if (!part.rows.length) return;
      blocks.push(table(part));
      const left = part.rows.length > MAX_ROWS ? `The first ${MAX_ROWS} of ${part.rows.length} rows.` : null;
      if (part.note || left) blocks.push(el("p", part.note || left, { class: "bv-chart-note" }));
    });
    // Everything after the summary is replaced; the summary stays in place, so it keeps the focus through a redraw.
    const summary = details.querySelector("summary");
    while (summary.nextSibling) summary.nextSibling.remove();
    details.append(...blocks);
    refocus(gd, details);
  }

  // The chart that replaced the one holding the focus takes it back, where nothing else has taken it since.
  function refocus(gd, details) {
    const last = chartFocus;
    if (!last || last.block !== blockOf(gd) || (document.activeElement && document.activeElement !== document.body)) {
      return;
    }
    const target = last.summary ? details.querySelector("summary")
      : [...gd.querySelectorAll(".modebar-btn")].find((b) => b.getAttribute("data-title") === last.button);
    if (target) target.focus({ preventScroll: true });
  }

  document.addEventListener("focusin", (event) => {
    const node = event.target;
    const details = node.closest && node.closest("details.bv-chart-values");
    const gd = details ? details.bvFor : node.closest && node.closest(".js-plotly-plot");
    chartFocus = gd && (details || node.classList.contains("modebar-btn"))
      ? { block: blockOf(gd), ...(details ? { summary: true } : { button: node.getAttribute("data-title") }) }
      : null;
  });
  document.addEventListener("pointerdown", () => { chartFocus = null; }, true);

  const CHARTS = '.js-plotly-plot[data-testid="plotly"]';

  function hook(gd) {
    if (hooked.has(gd) || typeof gd.on !== "function") return;
    hooked.add(gd);
    gd.on("plotly_afterplot", () => refresh(gd));
    refresh(gd);
  }

  function scan() {
    // Gradio's charts only: plotly's image export draws a hidden copy in the page, which must stay as drawn.
    document.querySelectorAll(CHARTS).forEach(hook);
    // A chart Gradio replaced or removed leaves its table behind: drop it.
    document.querySelectorAll("details.bv-chart-values").forEach((d) => {
      if (!d.bvFor || !d.bvFor.isConnected || d.previousElementSibling !== d.bvFor) d.remove();
    });
  }

  let queued = false;
  const observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; scan(); });
  });
  const start = () => observer.observe(document.body, { childList: true, subtree: true });
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
