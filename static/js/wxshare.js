/* WeChat share card: loaded only inside WeChat when the official account is configured.
   Signs this page's URL on the server (/wx/js-config) and gives the JS-SDK the card read from
   the page's og: tags. Without it WeChat shows a plain link; nothing else depends on it. */
(function () {
  var script = document.querySelector("script[data-wx-config]");
  if (!script || !window.wx) return;
  function meta(name) {
    var tag = document.querySelector('meta[property="' + name + '"]');
    return tag ? tag.getAttribute("content") : "";
  }
  var url = location.href.split("#")[0];
  fetch(script.getAttribute("data-wx-config") + "?url=" + encodeURIComponent(url), { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (settings) {
      if (!settings) return;
      wx.config({
        debug: false, appId: settings.appId, timestamp: settings.timestamp,
        nonceStr: settings.nonceStr, signature: settings.signature, jsApiList: settings.jsApiList
      });
      wx.ready(function () {
        var card = { title: meta("og:title"), desc: meta("og:description"), link: meta("og:url") || url, imgUrl: meta("og:image") };
        wx.updateAppMessageShareData(card);
        wx.updateTimelineShareData({ title: card.title, link: card.link, imgUrl: card.imgUrl });
      });
    })
    .catch(function () { /* WeChat then shares a plain link */ });
})();
