// SVG and PNG buttons under every chart, drawn by plotly's own export (window.Plotly, set by Gradio's frontend).
// Built with DOM methods only: a chart's label reaches the page as text, never as markup. One bar per gr.Plot
// block, kept when Gradio redraws the chart inside it.
(() => {
  const BAR = "bv-plot-export";
  const chartName = (block) => {
    const label = block.querySelector("[data-testid='block-label']");
    const text = label ? label.textContent.trim() : "";
    return text || "chart";
  };
  const fileName = (block) => (block.id || "chart").replace(/[^A-Za-z0-9_-]/g, "_");
  const button = (block, format) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "bv-plot-export-button";
    b.textContent = format.toUpperCase();
    b.setAttribute("aria-label", `Download the ${chartName(block)} chart as ${format.toUpperCase()}`);
    b.addEventListener("click", () => {
      const chart = block.querySelector(".js-plotly-plot");
      if (!chart || !window.Plotly) return;
      const width = Math.max(chart.clientWidth, 300);
      const height = Math.max(chart.clientHeight, 200);
      window.Plotly.downloadImage(chart, {format, filename: fileName(block), width, height,
                                          scale: format === "png" ? 2 : 1});
    });
    return b;
  };
  const equip = () => {
    // Gradio's charts only, not the hidden copy plotly's image export draws in the page.
    document.querySelectorAll('.js-plotly-plot[data-testid="plotly"]').forEach((chart) => {
      const block = chart.closest(".block") || chart.parentElement;
      if (!block || block.querySelector(`:scope > .${BAR}`)) return;
      const bar = document.createElement("div");
      bar.className = BAR;
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", `Download the ${chartName(block)} chart`);
      bar.append(button(block, "svg"), button(block, "png"));
      block.appendChild(bar);
    });
  };
  const start = () => {
    let queued = false;
    new MutationObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; equip(); });
    }).observe(document.body, {childList: true, subtree: true});
    equip();
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
