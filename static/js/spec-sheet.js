/* The product page's buy form as a bottom sheet: the bar's buttons open it as a modal dialog
   (focus kept inside, Esc or × closes it and focus goes back to the button), choosing spec
   values shows that SKU's image, price and stock and disables sold-out combinations, and the
   − / + buttons step the quantity. Without this script the form is a plain one on the page. */
(function () {
  var form = document.querySelector("form[data-skus]");
  if (!form || !window.HTMLDialogElement) return;
  var data = JSON.parse(form.getAttribute("data-skus"));
  var section = form.parentNode;
  var dialog = document.createElement("dialog");
  dialog.className = "sheet";
  dialog.setAttribute("aria-labelledby", "buy-title");
  var close = document.createElement("button");
  close.type = "button";
  close.className = "sheet-close";
  close.setAttribute("aria-label", section.getAttribute("data-close") || "×");
  close.textContent = "×";
  dialog.appendChild(close);
  dialog.appendChild(form);
  document.body.appendChild(dialog);
  section.parentNode.removeChild(section);
  var qty = form.querySelector("input[name=quantity]");
  var ok = form.querySelector(".sheet-ok");
  var actions = form.querySelectorAll(".sheet-actions button:not(.sheet-ok)");
  var opener = null;

  function yuan(fen) { return (fen / 100).toFixed(2); }
  function chosenValues() {
    return data.specs.map(function (spec, i) {
      var on = form.querySelector("input[name=spec" + i + "]:checked");
      return on ? on.value : "";
    });
  }
  function skuFor(values) {
    for (var i = 0; i < data.skus.length; i++) {
      if (data.skus[i].values.join("\u0001") === values.join("\u0001")) return data.skus[i];
    }
    return null;
  }
  function update() {
    var values = chosenValues();
    // A value is disabled when no SKU with it (and the other dimension's choice) has stock.
    data.specs.forEach(function (spec, i) {
      form.querySelectorAll("input[name=spec" + i + "]").forEach(function (input) {
        var free = data.skus.some(function (sku) {
          return sku.stock > 0 && sku.values[i] === input.value &&
            sku.values.every(function (v, j) { return j === i || !values[j] || v === values[j]; });
        });
        input.disabled = !free;
        if (!free && input.checked) { input.checked = false; }
      });
    });
    values = chosenValues();
    var sku = skuFor(values);
    if (!sku && data.skus.length === 1) sku = data.skus[0];
    var price = form.querySelector(".sheet-price .price");
    var stock = form.querySelector(".sheet-stock");
    var img = form.querySelector(".sheet-img");
    var pick = form.querySelector(".sheet-chosen");
    if (sku) {
      if (price) price.innerHTML = "<small>¥</small>" + yuan(sku.price);
      if (stock) stock.textContent = stock.textContent.replace(/\d+/, String(sku.stock));
      if (img && sku.image) img.src = img.getAttribute("data-media") + sku.image + "-t.webp";
      if (pick) pick.textContent = values.filter(Boolean).join(" / ");
      qty.max = Math.max(1, Math.min(Number(qty.getAttribute("max")) || 99, sku.stock));
      if (Number(qty.value) > Number(qty.max)) qty.value = qty.max;
    }
  }
  function step(by) {
    var n = (parseInt(qty.value, 10) || 1) + by;
    var max = parseInt(qty.max, 10) || 99;
    qty.value = String(Math.max(1, Math.min(max, n)));
  }
  function open(mode, from) {
    opener = from || null;
    // From 加入购物车 or 立即购买 the sheet ends in one 确定; from the spec row, in both.
    ok.value = mode === "cart" ? "cart" : "buy";
    ok.hidden = !mode;
    actions.forEach(function (b) { b.hidden = !!mode; });
    dialog.showModal();
    var first = form.querySelector(".spec-values input:not(:disabled)") || ok;
    first.focus();
  }
  dialog.addEventListener("close", function () { if (opener) opener.focus(); });
  close.addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  form.addEventListener("change", function (event) {
    if (event.target.name && event.target.name.indexOf("spec") === 0) update();
  });
  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-step]");
    if (button) { event.preventDefault(); step(Number(button.getAttribute("data-step"))); }
  });
  form.addEventListener("submit", function (event) {
    var missing = data.specs.some(function (spec, i) {
      return !form.querySelector("input[name=spec" + i + "]:checked");
    });
    if (missing) {
      event.preventDefault();
      var pick = form.querySelector(".sheet-chosen");
      if (pick) { pick.classList.add("field-error"); pick.setAttribute("role", "alert"); }
      var first = form.querySelector(".spec-values input:not(:disabled)");
      if (first) first.focus();
    }
  });
  document.querySelectorAll("[data-spec-sheet]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      open(link.getAttribute("data-spec-sheet"), link);
    });
  });
  update();
  if (form.getAttribute("data-open")) open(form.getAttribute("data-open"), null);
})();
