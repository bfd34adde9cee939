// Mio Hub: small enhancements over pages that work without script.
// Dialogs for sync and reset, the primary drop-down saving on change, live status (the table
// polls every few seconds and redraws only the rows that changed), and import progress.
"use strict";
(() => {
  document.documentElement.classList.add("js");
  const POLL_MS = 3000;
  const WORDS = { not_created: "not created", pending: "pending", synced: "synced", failed: "failed" };

  const $ = (selector, root = document) => root.querySelector(selector);
  const csrf = () => $('meta[name="csrf-token"]')?.content || "";
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function announce(text) {
    const region = $("#live");
    if (!region) return;
    region.textContent = "";
    setTimeout(() => { region.textContent = text; }, 60);
  }

  function note(text, bad = false) {
    let flash = $("main > .flash");
    if (!flash) {
      flash = document.createElement("p");
      flash.className = "flash";
      $("main").prepend(flash);
    }
    flash.textContent = text;
    flash.classList.toggle("bad", bad);
    announce(text);
  }

  async function readAnswer(response) {
    try {
      return await response.json();
    } catch {
      return { ok: false, sentence: `The Hub answered ${response.status}. Reload the page.` };
    }
  }

  async function post(form) {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
      credentials: "same-origin",
    });
    const data = await readAnswer(response);
    return { ok: response.ok && data.ok !== false, data };
  }

  // -- dialogs: the sync confirmation and the reset prompt --------------------------------
  let opener = null; // id of the control that opened the dialog, refocused when it closes

  async function openDialog(url, from) {
    const dialog = $("#hub-dialog");
    if (!dialog) return false;
    const response = await fetch(url, { headers: { Accept: "text/html, application/json" } });
    if (!response.ok || (response.headers.get("Content-Type") || "").includes("json")) {
      const data = await readAnswer(response);
      note(data.sentence, true);
      return true;
    }
    $("#dialog-body").innerHTML = await response.text();
    // A button inside the row menu disappears with the menu: return to the menu's toggle.
    const menu = from ? from.closest(".menu") : null;
    const back = menu ? document.querySelector(`[aria-controls="${menu.id}"]`) : from;
    opener = back ? back.id : null;
    dialog.showModal();
    $("[autofocus]", dialog)?.focus();
    return true;
  }

  function dialogUrl(form) {
    const params = new URLSearchParams(new FormData(form));
    params.set("partial", "1");
    return `${form.action}?${params}`;
  }

  document.addEventListener("close", (event) => {
    if (event.target.id !== "hub-dialog") return;
    $("#dialog-body").replaceChildren();
    if (opener) document.getElementById(opener)?.focus();
  }, true);

  async function confirm(form) {
    const dialog = form.closest("dialog");
    const button = $("button:not([type=button])", form);
    if (button) button.disabled = true;
    const { ok, data } = await post(form);
    if (!ok) {
      let problem = $(".refused.answer", form);
      if (!problem) {
        problem = document.createElement("p");
        problem.className = "refused answer";
        form.prepend(problem);
      }
      problem.textContent = data.sentence;
      announce(data.sentence);
      if (button) button.disabled = false;
      return;
    }
    dialog?.close();
    note(data.sentence);
    await refreshRows(true);
  }

  // -- live status: redraw the rows whose state changed -----------------------------------
  let polling = false;
  let stopped = false;

  async function refreshRows(force = false) {
    const rows = [...document.querySelectorAll("#rows > tr[data-id]")];
    if (!rows.length || (polling && !force) || stopped) return;
    polling = true;
    try {
      const known = rows.map((tr) => `${tr.dataset.id}:${tr.dataset.key}`).join(",");
      const response = await fetch(`/hub/api/rows?rows=${encodeURIComponent(known)}`, {
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        stopped = true;
        note("Your Hub session has ended. Reload the page to sign in again.", true);
        return;
      }
      if (!response.ok) return;
      const data = await response.json();
      for (const item of data.rows) {
        if (item.html) redraw(item, force);
      }
    } catch {
      // The bot may be restarting; the next poll tries again.
    } finally {
      polling = false;
    }
  }

  function redraw(item, force) {
    const row = document.getElementById(`person-${item.id}`);
    if (!row) return;
    const active = document.activeElement;
    const inside = active && row.contains(active);
    if (!force && inside && active.tagName === "SELECT") return; // mid-choice: next poll
    if ($(".menu.open", row)) return;
    const before = JSON.parse(row.dataset.statuses || "{}");
    const template = document.createElement("template");
    template.innerHTML = item.html.trim();
    const fresh = template.content.firstElementChild;
    row.replaceWith(fresh);
    const changes = [];
    for (const [platform, status] of Object.entries(item.statuses)) {
      if (before[platform] && before[platform] !== status) {
        const cell = $(`.cell[data-platform="${platform}"]`, fresh);
        $(".chip", cell)?.classList.add("changed");
        changes.push(`${cell?.dataset.label || platform} is now ${WORDS[status] || status}`);
      }
    }
    if (changes.length) announce(`${item.name}: ${changes.join(", ")}.`);
    if (inside && active.id) document.getElementById(active.id)?.focus();
  }

  setInterval(() => {
    if (!document.hidden && !$("#hub-dialog")?.open) refreshRows();
  }, POLL_MS);

  // -- the row menu (· · ·) ---------------------------------------------------------------
  function closeMenus(except) {
    for (const menu of document.querySelectorAll(".menu.open")) {
      if (menu === except) continue;
      menu.classList.remove("open");
      document.querySelector(`[aria-controls="${menu.id}"]`)?.setAttribute("aria-expanded", "false");
    }
  }

  function toggleMenu(button) {
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    const open = !menu.classList.contains("open");
    closeMenus(menu);
    menu.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
    if (open) $("button", menu)?.focus();
  }

  // -- Connect Platforms: import with progress --------------------------------------------
  async function importUsers(form) {
    const card = form.closest("[data-platform]");
    const platform = card.dataset.platform;
    const button = $("button", form);
    const bar = document.getElementById(`bar-${platform}`);
    const out = document.getElementById(`progress-${platform}`);
    button.disabled = true;
    bar.hidden = false;
    let { ok, data } = await post(form);
    out.textContent = data.sentence;
    while (ok && !data.done) {
      await sleep(700);
      const response = await fetch(form.action, { headers: { Accept: "application/json" } });
      data = await readAnswer(response);
      ok = response.ok;
      out.textContent = data.sentence;
    }
    bar.hidden = true;
    button.disabled = false;
    announce(data.sentence);
    if (ok && data.ok) await refreshCard(card, platform);
  }

  // The card's facts (account count, last import) as the page would now show them, in place:
  // a reload could cut short wherever the admin has gone next.
  async function refreshCard(card, platform) {
    const response = await fetch("/hub/platforms", { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const facts = page.querySelector(`section[data-platform="${platform}"] dl`);
    if (facts && card.isConnected) $("dl", card).replaceWith(facts);
  }

  // -- wiring --------------------------------------------------------------------------------
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.classList.contains("js-plan") || form.classList.contains("js-reset")) {
      event.preventDefault();
      closeMenus();
      await openDialog(dialogUrl(form), event.submitter || $("button", form));
    } else if (form.classList.contains("js-confirm")) {
      event.preventDefault();
      await confirm(form);
    } else if (form.classList.contains("js-import")) {
      event.preventDefault();
      await importUsers(form);
    } else if (form.classList.contains("js-authorize")) {
      event.preventDefault();
      const { ok, data } = await post(form);
      if (ok) window.location.assign(data.url);
      else note(data.sentence, true);
    }
  });

  document.addEventListener("change", async (event) => {
    const select = event.target.closest(".js-primary select");
    if (!select) return;
    const { ok, data } = await post(select.form);
    note(data.sentence, !ok);
    await refreshRows(true);
  });

  document.addEventListener("click", (event) => {
    const toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      toggleMenu(toggle);
      return;
    }
    if (event.target.closest(".js-close")) {
      event.target.closest("dialog")?.close();
      return;
    }
    if (!event.target.closest(".menu")) closeMenus();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = $(".menu.open");
    if (open) {
      closeMenus();
      document.querySelector(`[aria-controls="${open.id}"]`)?.focus();
    }
  });
})();
