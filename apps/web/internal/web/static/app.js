// Ordering from the shop page. Browsing needs no script; this file only
// turns each product's form into a JSON POST to /api/orders, and then
// shows the order's shipment once shipping has made it.
//
// Idempotency: every order attempt gets a fresh Idempotency-Key, and every
// retry of that attempt re-sends the same key, so the orders service creates
// at most one order however often the network fails. When an attempt ends
// without a definite answer (network error, 5xx after all retries) the key
// is kept: pressing "Order" again with the same quantity and email re-sends
// the same key instead of risking a second order.
"use strict";

(function () {
  var MAX_ATTEMPTS = 3;          // the first try and two retries
  var BASE_DELAY_MS = 500;       // doubled each retry, plus jitter
  var MAX_RETRY_AFTER_S = 10;    // a longer Retry-After is not worth waiting for here
  var ATTEMPT_TIMEOUT_MS = 10000;
  // Shipping makes the shipment from the order.confirmed event, moments
  // after the order is answered: the page asks for it up to SHIPMENT_POLLS
  // times, 0.25 s after the order and then waiting twice as long each
  // time, at most 8 s (about 30 s in all).
  var SHIPMENT_POLLS = 8;
  var SHIPMENT_FIRST_DELAY_MS = 250;
  var SHIPMENT_MAX_DELAY_MS = 8000;

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; plain http on a LAN address is not
    // one, so fall back to a v4 UUID from getRandomValues.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function retryDelay(res, attempt) {
    var header = res && res.headers.get("Retry-After");
    if (header) {
      var s = parseInt(header, 10);
      if (!isNaN(s) && s >= 0) {
        return Math.min(s, MAX_RETRY_AFTER_S) * 1000;
      }
      var when = Date.parse(header);
      if (!isNaN(when)) {
        return Math.min(Math.max(when - Date.now(), 0), MAX_RETRY_AFTER_S * 1000);
      }
    }
    var base = BASE_DELAY_MS * Math.pow(2, attempt - 1);
    return base + Math.floor(Math.random() * base);
  }

  // The answers worth retrying with the same key: the request may not have
  // been processed (the key makes a repeat harmless if it was), or an
  // earlier try with this key is still being processed.
  function retryable(status, body) {
    if (status === 502 || status === 503 || status === 504) {
      return true;
    }
    return status === 409 && !!body && body.type === "/problems/request-in-progress";
  }

  // postOrder resolves to {res, body} for a definite answer, or rejects when
  // every attempt failed without one.
  async function postOrder(payload, key, onRetry) {
    var lastError = null;
    for (var attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      var res = null;
      var ctrl = new AbortController();
      var timer = setTimeout(function () { ctrl.abort(); }, ATTEMPT_TIMEOUT_MS);
      try {
        res = await fetch("/api/orders", {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "Accept": "application/json, application/problem+json",
            "Idempotency-Key": key
          },
          body: payload,
          credentials: "same-origin",
          signal: ctrl.signal
        });
      } catch (err) {
        lastError = err;
      } finally {
        clearTimeout(timer);
      }
      if (res) {
        var body = await readBody(res);
        if (!retryable(res.status, body)) {
          return { res: res, body: body };
        }
        lastError = { res: res, body: body };
      }
      if (attempt < MAX_ATTEMPTS) {
        onRetry(attempt);
        await sleep(retryDelay(res, attempt));
      }
    }
    throw lastError;
  }

  async function readBody(res) {
    var text = await res.text().catch(function () { return ""; });
    if (!text) {
      return null;
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  function formatMoney(cents, currency) {
    if (typeof cents !== "number") {
      return "";
    }
    try {
      var digits = new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits;
      return new Intl.NumberFormat("en", { style: "currency", currency: currency }).format(cents / Math.pow(10, digits));
    } catch (e) {
      return (cents / 100).toFixed(2) + " " + currency;
    }
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) {
      e.textContent = String(text);
    }
    return e;
  }

  // Field names in problem details, e.g. "email" or "items[0].quantity".
  function inputFor(form, field) {
    if (field === "email") {
      return form.elements.namedItem("email");
    }
    if (/^items\[\d+\]\.quantity$/.test(field)) {
      return form.elements.namedItem("quantity");
    }
    return null;
  }

  function labelFor(field) {
    if (field === "email") {
      return "Email";
    }
    if (/\.quantity$/.test(field)) {
      return "Quantity";
    }
    if (/\.product_id$/.test(field)) {
      return "Product";
    }
    return field;
  }

  function clearState(form) {
    form.querySelectorAll("[aria-invalid]").forEach(function (i) {
      i.removeAttribute("aria-invalid");
      i.removeAttribute("aria-describedby");
    });
    form.querySelector(".order-result").replaceChildren();
  }

  function showPending(form, text) {
    form.querySelector(".order-result").replaceChildren(
      el("p", { "class": "order-pending", "data-testid": "order-pending" }, text));
  }

  function showConfirmation(form, body) {
    var id = body && (body.id || body.order_id);
    var currency = (body && body.currency) || form.dataset.currency;
    var total = body && (typeof body.total_cents === "number" ? body.total_cents : body.total_price_cents);
    var box = el("div", { "class": "order-confirmation", "data-testid": "order-confirmation", "role": "status" });
    var p = el("p");
    p.append("Thank you! Order ");
    p.append(el("span", { "class": "order-id", "data-testid": "order-id" }, id || "(no id)"));
    p.append(" is placed.");
    box.append(p);
    var money = formatMoney(total, currency);
    if (money) {
      var t = el("p");
      t.append("Total: ");
      t.append(el("strong", { "data-testid": "order-total" }, money));
      box.append(t);
    }
    form.querySelector(".order-result").replaceChildren(box);
    if (id && (!body.status || body.status === "confirmed")) {
      trackShipment(box, id);
    }
  }

  // trackShipment shows "Preparing shipment…" in box until the order's
  // shipment exists, then its status. A 404 means not made yet; any other
  // failure is retried the same way. It stops when box leaves the page (a
  // new order replaced it).
  async function trackShipment(box, orderId) {
    var line = el("p", { "class": "shipment", "data-testid": "shipment-status" }, "Preparing shipment…");
    box.append(line);
    var delay = SHIPMENT_FIRST_DELAY_MS;
    for (var i = 0; i < SHIPMENT_POLLS; i++) {
      await sleep(delay);
      delay = Math.min(delay * 2, SHIPMENT_MAX_DELAY_MS);
      if (!line.isConnected) {
        return;
      }
      try {
        var res = await fetch("/api/shipping/shipments/" + encodeURIComponent(orderId), {
          headers: { "Accept": "application/json, application/problem+json" },
          credentials: "same-origin"
        });
        var body = await readBody(res);
        if (res.ok && body && typeof body.status === "string") {
          line.textContent = "Shipment: " + body.status;
          line.dataset.status = body.status;
          return;
        }
      } catch (e) {
        // The network failed: the next poll tries again.
      }
    }
    line.textContent = "Shipment: not ready yet; it will be prepared shortly.";
  }

  function showError(form, status, body, fallback) {
    var detail = (body && (body.detail || body.title)) || fallback;
    var box = el("div", { "class": "order-error", "data-testid": "order-error", "role": "alert", "data-status": String(status || 0) });
    box.append(el("p", {}, detail));
    var errors = (body && Array.isArray(body.errors)) ? body.errors : [];
    if (errors.length) {
      var ul = el("ul");
      errors.forEach(function (fe, i) {
        var msgId = form.id + "-err-" + i;
        ul.append(el("li", { id: msgId, "data-testid": "order-field-error", "data-field": fe.field || "" },
          labelFor(fe.field || "") + ": " + (fe.message || "is invalid")));
        var input = inputFor(form, fe.field || "");
        if (input) {
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", msgId);
        }
      });
      box.append(ul);
    }
    var ref = body && body.request_id;
    if (ref) {
      box.append(el("p", { "class": "ref" }, "Reference: " + ref));
    }
    form.querySelector(".order-result").replaceChildren(box);
  }

  async function submit(form) {
    var button = form.querySelector("button[type=submit]");
    var quantity = parseInt(form.elements.namedItem("quantity").value, 10);
    var email = form.elements.namedItem("email").value.trim();
    var payload = JSON.stringify({
      email: email,
      items: [{ product_id: form.dataset.productId, quantity: isNaN(quantity) ? 0 : quantity }]
    });
    // Same payload after an unknown outcome: same attempt, same key.
    if (!form.dataset.idempotencyKey || form.dataset.pendingPayload !== payload) {
      form.dataset.idempotencyKey = newKey();
      form.dataset.pendingPayload = payload;
    }
    var key = form.dataset.idempotencyKey;

    clearState(form);
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    showPending(form, "Placing your order…");
    try {
      var out = await postOrder(payload, key, function () {
        showPending(form, "The shop is busy; trying again…");
      });
      // A definite answer ends this attempt; the next one gets a new key.
      delete form.dataset.idempotencyKey;
      delete form.dataset.pendingPayload;
      if (out.res.ok) {
        showConfirmation(form, out.body);
      } else {
        showError(form, out.res.status, out.body, "The order was not accepted (status " + out.res.status + ").");
      }
    } catch (err) {
      if (err && err.res) {
        showError(form, err.res.status, err.body,
          "The shop is temporarily unavailable. Please try again in a few seconds.");
      } else {
        showError(form, 0, null,
          "We could not reach the shop. Check your connection and press Order again: the same order will not be placed twice.");
      }
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  function init() {
    document.querySelectorAll("form.order-form").forEach(function (form, i) {
      if (!form.id) {
        form.id = "order-form-" + i;
      }
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        submit(form);
      });
      // Ordering works only with this script, so the button is enabled here.
      form.querySelector("button[type=submit]").disabled = false;
    });
    document.documentElement.classList.add("js");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
