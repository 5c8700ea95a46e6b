// Which images on the engine a build may read. FROM and COPY --from name images after variables
// are replaced, so the builder alone has the final name, and it asks the caller about each image.
// A rejected image and a missing one fail with the same message, so a build cannot tell which
// names the engine has.
import type Docker from 'dockerode';

import { inspectImage } from './engine.ts';
import { BuildFailure } from './messages.ts';

export interface ImageAccess {
  /** Decides from the image's inspect data; earlier stages and scratch are never passed here. */
  allowImage: (ref: string, image: Docker.ImageInspectInfo) => boolean | Promise<boolean>;
  /** Description of the allowed images, for the message about an image that is not allowed. */
  allowedImages: string;
}

// An image id, or a name with a tag or digest. Other text, such as a path with `..`, is never
// sent to the engine.
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

/**
 * Returns the inspect data of an image the caller allows. Callers use the returned id from then
 * on, so a tag moved after the check changes nothing.
 */
export async function allowedImage(
  docker: Docker,
  access: ImageAccess,
  ref: string,
  instruction: string,
): Promise<Docker.ImageInspectInfo> {
  const notAllowed = new BuildFailure(
    `${instruction}: the image ${ref} is not one this build may use. It may use ${access.allowedImages}; builds never pull images.`,
  );
  if (!REFERENCE.test(ref) || ref.includes('..')) throw notAllowed;
  const info = await inspectImage(docker, ref);
  if (!info || !(await access.allowImage(ref, info))) throw notAllowed;
  return info;
}
