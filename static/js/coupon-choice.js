// The checkout's coupon rows: choosing another coupon (or none) updates the shop's coupon
// amount, its subtotal and the total at once. The server works the amounts out again when
// the order is placed; this only keeps the page honest before that.
(function () {
  "use strict";
  function yuan(fen) {
    var whole = Math.floor(fen / 100), part = fen % 100;
    return whole + "." + (part < 10 ? "0" : "") + part;
  }
  function update() {
    var total = 0;
    document.querySelectorAll(".checkout-group").forEach(function (group) {
      var base = parseInt(group.getAttribute("data-base"), 10) || 0;
      var picked = group.querySelector(".coupon-choices input:checked");
      var off = picked ? parseInt(picked.getAttribute("data-discount"), 10) || 0 : 0;
      var shown = group.querySelector(".coupon-discount");
      if (shown) {
        shown.textContent = off ? "−¥" + yuan(off) : shown.getAttribute("data-none");
      }
      var subtotal = group.querySelector(".part-subtotal");
      if (subtotal) {
        subtotal.textContent = "¥" + yuan(base - off);
      }
      total += base - off;
    });
    var sum = document.getElementById("checkout-total");
    if (sum) {
      sum.innerHTML = "";
      var mark = document.createElement("small");
      mark.textContent = "¥";
      sum.appendChild(mark);
      sum.appendChild(document.createTextNode(yuan(total)));
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest(".coupon-choices")) {
      update();
    }
  });
})();
