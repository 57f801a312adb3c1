/* A Web Worker stand-in for pages opened from file://, where the browser refuses `new Worker(url)`: the worker
 * script runs in a hidden same-origin iframe, and messages cross between the two windows. Material for MkDocs'
 * search worker is written for such a shim (it awaits importScripts and looks for parent.IFrameWorker); its
 * offline plugin would otherwise load one from the network. Part of fedfair's docs; loads nothing remote. */
(function () {
  "use strict";
  if (location.protocol !== "file:" && typeof Worker !== "undefined") return;

  // the worker's globals, defined inside the iframe (so that its messages come from the iframe's window)
  var RUNTIME =
    "self.postMessage = function (data) { parent.postMessage(data, '*'); };" +
    "self.importScripts = function () {" +
    "  var urls = Array.prototype.slice.call(arguments);" +
    "  return urls.reduce(function (done, src) {" +
    "    return done.then(function () {" +
    "      return new Promise(function (resolve, reject) {" +
    "        var script = document.createElement('script');" +
    "        script.src = src;" +
    "        script.onload = function () { resolve(); };" +
    "        script.onerror = function () { reject(new Error('importScripts: cannot load ' + src)); };" +
    "        document.body.appendChild(script);" +
    "      });" +
    "    });" +
    "  }, Promise.resolve());" +
    "};";

  function IFrameWorker(url) {
    var target = document.createDocumentFragment(), self = this;
    this.addEventListener = target.addEventListener.bind(target);
    this.removeEventListener = target.removeEventListener.bind(target);
    this.dispatchEvent = target.dispatchEvent.bind(target);
    this.onmessage = null;
    this.onerror = null;
    this.url = String(url);
    this.iframe = document.createElement("iframe");
    this.iframe.hidden = true;
    document.body.appendChild(this.iframe);
    var win = this.iframe.contentWindow, doc = win.document;
    doc.open();
    doc.write("<!doctype html><html><body></body></html>");
    doc.close();
    var runtime = doc.createElement("script");
    runtime.textContent = RUNTIME;
    doc.body.appendChild(runtime);
    this.ready = new Promise(function (resolve, reject) {
      var script = doc.createElement("script");
      script.src = self.url;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("cannot load the worker script " + self.url)); };
      doc.body.appendChild(script);
    });
    window.addEventListener("message", function (ev) {
      if (ev.source !== win) return;
      var copy = new MessageEvent("message", { data: ev.data });
      self.dispatchEvent(copy);
      if (typeof self.onmessage === "function") self.onmessage(copy);
    });
  }
  IFrameWorker.prototype.postMessage = function (data) {
    var win = this.iframe.contentWindow;
    this.ready.then(function () { win.dispatchEvent(new MessageEvent("message", { data: data })); });
  };
  IFrameWorker.prototype.terminate = function () { this.iframe.remove(); };

  window.IFrameWorker = IFrameWorker;
  window.Worker = IFrameWorker;
})();
