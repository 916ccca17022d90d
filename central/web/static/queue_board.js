// The office's queue board: polls the latest calls and speaks each new one in Arabic
// (a clip the server makes with espeak-ng: /queue/say.wav). A browser plays sound only
// after a person touched the page once, hence the "sound on" button; an office screen
// may instead start Chromium with --autoplay-policy=no-user-gesture-required.
(function () {
  "use strict";
  const office = document.body.dataset.office || "";
  const tbody = document.querySelector("#board tbody");
  const voice = document.getElementById("voice");
  const seen = new Set();
  const toSay = [];
  let first = true;
  let speaking = false;

  function sayNext() {
    if (speaking || toSay.length === 0) return;
    const c = toSay.shift();
    speaking = true;
    voice.src = "/queue/say.wav?number=" + encodeURIComponent(c.number) + "&counter=" + c.counter;
    voice.dataset.saying = c.number;
    // data-spoken / data-unspoken say what happened to each call (the office's technician
    // and the tests read them): a clip that cannot play must not stop the next one
    const finish = function (ok) {
      return function () {
        speaking = false;
        document.body.dataset[ok ? "spoken" : "unspoken"] = c.key;
        sayNext();
      };
    };
    voice.onended = finish(true);
    voice.onerror = finish(false);
    voice.play().catch(finish(false));
  }

  function show(calls) {
    tbody.textContent = "";
    for (const c of calls) {
      const tr = document.createElement("tr");
      tr.className = seen.has(c.key) ? "" : "fresh";
      tr.dataset.number = c.number;
      const n = document.createElement("td");
      n.dir = "ltr";
      n.textContent = c.number;
      const k = document.createElement("td");
      k.textContent = String(c.counter);
      tr.append(n, k);
      tbody.append(tr);
    }
    // oldest new call first; on the first load nothing is spoken (those calls are old)
    for (const c of calls.slice().reverse()) {
      if (!seen.has(c.key)) {
        seen.add(c.key);
        if (!first) toSay.push(c);
      }
    }
    first = false;
    document.body.dataset.polled = String(Number(document.body.dataset.polled || "0") + 1);
    sayNext();
  }

  async function poll() {
    try {
      const r = await fetch("/queue/board.json?office=" + encodeURIComponent(office), {cache: "no-store"});
      if (r.ok) show((await r.json()).calls);
    } catch (e) { /* the network is back on the next poll */ }
    setTimeout(poll, 2000);
  }

  document.getElementById("sound-on").addEventListener("click", function () {
    voice.muted = false;
    document.body.dataset.sound = "on";
  });
  poll();
})();
