// flagedge console: small improvements over plain forms. Everything works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A toggle's checkbox submits its form at once; its button is then not needed.
  for (const form of document.querySelectorAll("form.toggle")) {
    const box = form.querySelector("input[type=checkbox]");
    const button = form.querySelector("button");
    if (!box || !button) continue;
    button.hidden = true;
    box.addEventListener("change", () => form.requestSubmit());
  }

  // Live search: rows of the table named by data-filter hide unless they match.
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.getElementById(input.dataset.filter);
    if (!table) continue;
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      for (const row of table.tBodies[0].rows) {
        const name = (row.dataset.name || row.textContent).toLowerCase();
        row.hidden = needle !== "" && !name.includes(needle);
      }
    });
  }
});
