// WeChat Pay inside WeChat (JSAPI): open WeChat's pay sheet with the signed parameters, then
// go to the return page, which asks the gateway (never this script) whether the order is paid.
(function () {
  var button = document.getElementById("wxpay");
  if (!button) return;
  var params = JSON.parse(button.getAttribute("data-params"));
  function pay() {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (result) {
      if (result && result.err_msg === "get_brand_wcpay_request:ok") {
        window.location.href = button.href;
      } else {
        document.getElementById("wxpay-msg").hidden = false;
      }
    });
  }
  button.addEventListener("click", function (event) {
    if (!window.WeixinJSBridge) {
      if (navigator.userAgent.indexOf("MicroMessenger") < 0) return; // follow the link
      event.preventDefault();
      document.addEventListener("WeixinJSBridgeReady", pay, false);
      return;
    }
    event.preventDefault();
    pay();
  });
})();
