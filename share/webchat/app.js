// Hermes web chat: one WebSocket to /chat/ws, JSON frames.
//   out: {type:"hello", session?, key?}  {type:"message", text}
//   in:  {type:"ready", session, resumed}  {type:"delta", text}  {type:"done", agent}
//        {type:"error", code, message}  {type:"notice", code, text, retry_after?}
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const log = $('log'), status = $('status'), composer = $('composer'), input = $('message');
  const keyForm = $('key-form'), keyInput = $('key');
  const store = window.sessionStorage;
  let socket = null, ready = false, current = null, retryDelay = 500;

  function setStatus(text, state) { status.textContent = text; status.dataset.state = state; }

  function add(kind, text, who) {
    const item = document.createElement('li');
    item.className = kind;
    if (who) {
      const label = document.createElement('span');
      label.className = 'who';
      label.textContent = who;
      item.append(label);
    }
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    item.append(body);
    log.append(item);
    item.scrollIntoView({ block: 'end' });
    if (kind !== 'agent' || who) saveTranscript();
    return item;
  }

  function saveTranscript() {
    const items = [...log.children].filter((li) => !li.classList.contains('streaming')).map((li) => ({
      kind: li.className, who: li.querySelector('.who')?.textContent ?? '', text: li.querySelector('.text').textContent,
    }));
    store.setItem('hermes.transcript', JSON.stringify(items.slice(-200)));
  }

  function restoreTranscript() {
    try {
      for (const { kind, who, text } of JSON.parse(store.getItem('hermes.transcript') ?? '[]')) add(kind, text, who);
    } catch { store.removeItem('hermes.transcript'); }
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    socket = new WebSocket(scheme + location.host + '/chat/ws');
    socket.onopen = () => {
      retryDelay = 500;
      const hello = { type: 'hello' };
      if (store.getItem('hermes.session')) hello.session = store.getItem('hermes.session');
      if (store.getItem('hermes.key')) hello.key = store.getItem('hermes.key');
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (event) => handle(JSON.parse(event.data));
    socket.onclose = () => {
      ready = false;
      finishCurrent();
      setStatus('Offline, reconnecting…', 'offline');
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  function finishCurrent(agent) {
    if (!current) return;
    current.classList.remove('streaming');
    current.querySelector('.who').textContent = agent ? agent : 'interrupted';
    current.setAttribute('aria-busy', 'false');
    current = null;
    saveTranscript();
  }

  function handle(frame) {
    switch (frame.type) {
      case 'ready':
        store.setItem('hermes.session', frame.session);
        ready = true;
        keyForm.hidden = true;
        setStatus(frame.resumed ? 'Connected (conversation resumed)' : 'Connected', 'ready');
        break;
      case 'delta':
        if (!current) {
          current = add('agent streaming', '', '…');
          current.setAttribute('aria-busy', 'true');
          setStatus('Answering…', 'busy');
        }
        current.querySelector('.text').textContent += frame.text;
        current.scrollIntoView({ block: 'end' });
        break;
      case 'done':
        if (!current) current = add('agent streaming', '', '…');
        finishCurrent(frame.agent);
        setStatus('Connected', 'ready');
        break;
      case 'notice':
        finishCurrent();
        add('notice', frame.text + (frame.retry_after ? ` (try again in ${frame.retry_after} s)` : ''));
        setStatus('Connected', 'ready');
        break;
      case 'error':
        finishCurrent();
        if (frame.code === 'unauthorized') {
          store.removeItem('hermes.key');
          keyForm.hidden = false;
          keyInput.focus();
        }
        add('error', frame.message);
        setStatus(ready ? 'Connected' : 'Not connected', ready ? 'ready' : 'offline');
        break;
    }
  }

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: 'message', text }));
    add('user', text, 'You');
    input.value = '';
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    store.setItem('hermes.key', keyInput.value);
    keyInput.value = '';
    keyForm.hidden = true;
    socket?.close();
  });

  restoreTranscript();
  connect();
  input.focus();
})();
