// The buy-now checkout: changing the quantity (typing, or − / +) updates the goods amount, the
// shipping fee, the coupon, the shop's subtotal and 合计 at once, from what the server put in
// data-* attributes (the SKU's price and the fee for every quantity). The server works every
// amount out again when the order is placed; without this script the "Recalculate" button
// asks the server for the same numbers.
(function () {
  "use strict";
  var group = document.querySelector(".checkout-group[data-fees]");
  var input = group && group.querySelector("input[name=quantity]");
  if (!input) {
    return;
  }
  var price = parseInt(group.getAttribute("data-price"), 10) || 0;
  var max = parseInt(group.getAttribute("data-max"), 10) || 1;
  var fees = group.getAttribute("data-fees").split(",");
  var recalc = group.querySelector("button[name=recalc]");
  if (recalc) {
    recalc.parentNode.removeChild(recalc);
  }
  group.querySelectorAll("[data-step]").forEach(function (button) {
    button.hidden = false;
  });

  function yuan(fen) {
    var whole = Math.floor(fen / 100), part = fen % 100;
    return whole + "." + (part < 10 ? "0" : "") + part;
  }
  function show(selector, text) {
    var node = group.querySelector(selector);
    if (node) {
      node.textContent = text;
    }
  }
  function quantity() {
    var text = input.value.trim();
    var q = parseInt(text, 10);
    return /^\d+$/.test(text) && q >= 1 && q <= max ? q : null;
  }

  function update() {
    var q = quantity();
    if (q === null) {
      return; // the server says what is wrong with it when the order is placed
    }
    var goods = price * q;
    var fee = fees[q - 1];
    var shipping = group.querySelector(".shipping-fee");
    var base = goods;
    if (fee === "x") {
      shipping.textContent = shipping.getAttribute("data-none");
    } else {
      fee = parseInt(fee, 10) || 0;
      shipping.textContent = fee ? "¥" + yuan(fee) : shipping.getAttribute("data-free");
      base += fee;
    }
    show(".part-goods", "¥" + yuan(goods));
    group.setAttribute("data-base", String(base));
    // A coupon takes off at most the goods, and nothing below its threshold (满减).
    group.querySelectorAll(".coupon-choices input[data-off]:not([disabled])").forEach(function (o) {
      var off = parseInt(o.getAttribute("data-off"), 10) || 0;
      var threshold = parseInt(o.getAttribute("data-threshold"), 10) || 0;
      o.setAttribute("data-discount", String(goods >= threshold ? Math.min(off, goods) : 0));
    });
    var picked = group.querySelector(".coupon-choices input:checked");
    var discount = picked ? parseInt(picked.getAttribute("data-discount"), 10) || 0 : 0;
    var coupon = group.querySelector(".coupon-discount");
    if (coupon) {
      coupon.textContent = discount ? "−¥" + yuan(discount) : coupon.getAttribute("data-none");
    }
    show(".part-subtotal", "¥" + yuan(base - discount));
    var total = document.getElementById("checkout-total");
    if (total) {
      total.textContent = "";
      var mark = document.createElement("small");
      mark.textContent = "¥";
      total.appendChild(mark);
      total.appendChild(document.createTextNode(yuan(base - discount)));
    }
  }

  input.addEventListener("input", update);
  input.addEventListener("change", function () {
    var q = parseInt(input.value, 10);
    if (!(q >= 1)) {
      q = 1;
    }
    input.value = String(Math.min(q, max));
    update();
  });
  group.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-step]");
    if (!button) {
      return;
    }
    event.preventDefault();
    var q = (quantity() || 1) + Number(button.getAttribute("data-step"));
    input.value = String(Math.max(1, Math.min(q, max)));
    update();
  });
})();
