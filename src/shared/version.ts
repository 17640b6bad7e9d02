// heyvm's version, shared by the full CLI and its fast path (which must not load commander).
export const VERSION = "0.1.0";
