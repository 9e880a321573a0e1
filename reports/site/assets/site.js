// biqa-bench results site: sortable and filterable tables, Plotly figures from embedded JSON. No network.
"use strict";

function cellValue(row, col) {
  const cell = row.children[col];
  if (!cell) return { num: NaN, text: "" };
  const raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  return { num: raw === "" ? NaN : Number(raw), text: raw };
}

function sortTable(table, col, th) {
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th[aria-sort]").forEach((h) => h.setAttribute("aria-sort", "none"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  for (const body of table.tBodies) {
    const rows = Array.from(body.rows).filter((r) => !r.classList.contains("group"));
    rows.sort((a, b) => {
      const x = cellValue(a, col), y = cellValue(b, col);
      const xMissing = x.text === "", yMissing = y.text === "";
      if (xMissing || yMissing) return xMissing - yMissing; // missing values last either way
      const order = !isNaN(x.num) && !isNaN(y.num) ? x.num - y.num : x.text.localeCompare(y.text);
      return ascending ? order : -order;
    });
    rows.forEach((r) => body.appendChild(r));
  }
}

function setUpTables() {
  document.querySelectorAll("table.report th.sortable").forEach((th) => {
    const table = th.closest("table");
    const col = Number(th.getAttribute("data-col"));
    th.addEventListener("click", () => sortTable(table, col, th));
    th.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, col, th); }
    });
  });
  document.querySelectorAll("input[data-filter]").forEach((input) => {
    const table = document.getElementById(input.getAttribute("data-filter"));
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      for (const body of table.tBodies) {
        for (const row of body.rows) {
          if (row.classList.contains("group")) continue;
          row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
        }
      }
    });
  });
}

function drawPlots() {
  const drawn = [];
  if (typeof Plotly !== "undefined") {
    document.querySelectorAll("div.plot[data-figure]").forEach((div) => {
      const fig = JSON.parse(document.getElementById(div.getAttribute("data-figure")).textContent);
      drawn.push(Plotly.newPlot(div, fig.data, fig.layout, CONFIG));
    });
  }
  // for readers of the page's state (the browser tests): every figure is drawn
  Promise.all(drawn).then(() => { document.body.dataset.plotsReady = "1"; });
}

// Plotly's options: no logo link to its site, no "edit in Chart Studio" (both would leave the site), fit the page
const CONFIG = { displaylogo: false, showLink: false, showSendToCloud: false, showEditInChartStudio: false, responsive: true };

document.addEventListener("DOMContentLoaded", () => { setUpTables(); drawPlots(); });
