// scoreline web UI: live step statuses, approve/reject, charts. No third-party code here;
// charts use the plotly.js of the installed plotly package, served by scoreline.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function refresh(target) {
  const response = await fetch(target.dataset.refresh);
  if (response.ok) {
    target.innerHTML = await response.text();
    if (target.querySelector("[data-final]")) delete target.dataset.refresh;
  }
}

function live() {
  for (const target of document.querySelectorAll("[data-refresh]")) {
    const tick = async () => {
      if (!target.dataset.refresh) return;
      await refresh(target);
      if (target.dataset.refresh) setTimeout(tick, 2000);
    };
    setTimeout(tick, 2000);
  }
}

function decisions() {
  for (const button of document.querySelectorAll("button[data-decide]")) {
    button.addEventListener("click", async () => {
      const comment = window.prompt("Comment for the audit trail", "") ?? "";
      const response = await fetch(button.dataset.decide, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ comment }),
      });
      const result = document.getElementById("decision-result");
      if (response.ok) {
        window.location.reload();
      } else {
        const body = await response.json();
        result.textContent = body.error ? body.error.message : response.statusText;
      }
    });
  }
}

function charts() {
  const data = document.getElementById("chart-data");
  if (!data || !window.Plotly) return;
  for (const chart of JSON.parse(data.textContent)) {
    const target = document.getElementById(chart.id);
    if (target) {
      window.Plotly.newPlot(target, chart.traces, chart.layout,
        { displayModeBar: false, responsive: true });
    }
  }
}

document.addEventListener("DOMContentLoaded", () => { live(); decisions(); charts(); });
