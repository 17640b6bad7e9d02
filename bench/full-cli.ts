// The full CLI (commander) without the fast path, for bench/exec-paths.ts: node runs this file
// (so that heyvm's native helpers are found from it, as from bin/heyvm), and it runs the main()
// of the bundle that bin/heyvm loads when the fast path declines.
const bundle = new URL("../bundle/heyvm.js", import.meta.url).href;
const { main } = (await import(bundle)) as { main(argv: string[]): Promise<number> };
process.exit(await main(process.argv.slice(2)));
