/** A model's parameters: plain tfjs variables in a flat record, by xft's names (model/config.ts). */
import { tf } from "../../backend/engine";

export type Params = Record<string, tf.Variable>;
