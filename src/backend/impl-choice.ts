/**
 * An XFT_* switch between one of xft's native implementations and tfjs ops: unset, the native one wherever it can
 * run; "kernel", insist on it (fail loudly where it cannot); "tfjs", tfjs ops. Shared by the attention kernel
 * (XFT_ATTENTION) and xft's TensorFlow ops (XFT_TF_OPS).
 */
export type Impl = "kernel" | "tfjs";
export interface ImplChoice {
  impl: Impl;
  why?: string;
}

export function implChoice(variable: string, wanted: string, what: string): { off?: ImplChoice; unavailable(why: string): ImplChoice } {
  if (!["", "kernel", "tfjs"].includes(wanted)) throw new Error(`${variable}=${wanted} is not ${what}; use "kernel" or "tfjs"`);
  return {
    off: wanted === "tfjs" ? { impl: "tfjs", why: `${variable}=tfjs` } : undefined,
    unavailable(why: string): ImplChoice {
      if (wanted === "kernel") throw new Error(`${variable}=kernel but ${why}`);
      return { impl: "tfjs", why };
    },
  };
}
