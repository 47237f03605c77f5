/* bertviz_ui: keyboard fixes for Gradio's own markup (issue 18), in the page's head with assets/chart_text.js.
   An open gr.Dropdown renders its options as a <ul class="option-list"> right after its box; a long list scrolls, and
   Chromium makes a scroller with nothing focusable inside a Tab stop of its own. Tab from the box then focused the
   list, the box's blur closed (removed) it, and focus fell to the page: one Tab lost, nothing announced. The options
   are chosen with the arrows from the box (aria-activedescendant), so the list itself needs no Tab stop. */
(() => {
  "use strict";
  const fix = () => document.querySelectorAll("ul.option-list:not([tabindex])")
    .forEach((list) => list.setAttribute("tabindex", "-1"));
  // Synchronous (no animation frame): the list must be out of the Tab order before the next key press.
  const observer = new MutationObserver(fix);
  const start = () => observer.observe(document.body, { childList: true, subtree: true });
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
