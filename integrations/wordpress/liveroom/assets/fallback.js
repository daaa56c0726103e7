/* Liveroom for WordPress: when the Liveroom server cannot be reached and its
 * button.js never loads, show a plain offline button so visitors still see how
 * to reach you. It does nothing when the real button appears. */
(function () {
	'use strict';
	var cfg = window.liveroomFallback;
	if (!cfg) {
		return;
	}
	function show() {
		if (document.querySelector('.liveroom-button, .liveroom-fallback')) {
			return;
		}
		var el;
		if (cfg.offlinePage) {
			el = document.createElement('a');
			el.href = cfg.offlinePage;
		} else if (cfg.offlineEmail) {
			el = document.createElement('a');
			el.href = 'mailto:' + cfg.offlineEmail;
		} else {
			el = document.createElement('span');
		}
		el.className = 'liveroom-fallback';
		el.dataset.presence = 'offline';
		el.textContent = cfg.text + ' · ' + cfg.offlineText;
		el.style.cssText = 'position:fixed;bottom:16px;' + (cfg.position === 'left' ? 'left' : 'right') +
			':16px;z-index:2147483000;padding:12px 18px;border-radius:999px;background:#5b6472;color:#fff;' +
			'font:600 15px/1.4 system-ui,sans-serif;text-decoration:none;box-shadow:0 4px 16px rgba(0,0,0,.22);' +
			'max-width:calc(100vw - 32px)';
		document.body.appendChild(el);
	}
	// button.js is async, and a hung server would hold back the load event, so
	// the wait starts when the page is parsed. Should the real button arrive
	// after all, the fallback steps aside.
	function start() {
		setTimeout(show, 5000);
		var poll = setInterval(function () {
			if (document.querySelector('.liveroom-button')) {
				var fallback = document.querySelector('.liveroom-fallback');
				if (fallback) {
					fallback.remove();
				}
				clearInterval(poll);
			}
		}, 2000);
	}
	if (document.readyState === 'loading') {
		document.addEventListener('DOMContentLoaded', start);
	} else {
		start();
	}
}());
