"""The browser runtime: maku.js, the demo page, and the site builder of `maku build --target web`."""
