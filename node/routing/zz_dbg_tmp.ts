import { after } from 'node:test';
after(() => {
  setTimeout(() => {
    const hs = (process as any)._getActiveHandles();
    console.log('HANDLES', hs.map((h: any) => h.constructor.name + (h._idleTimeout ? ' t=' + h._idleTimeout + ' ' + (h._onTimeout?.toString().slice(0, 120)) : '')));
  }, 3000).unref();
});
