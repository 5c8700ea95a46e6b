// The learners' side of a training, under /api/trainings: join with a code and a display name,
// and read the training one has joined. The learner cookie names the learner, as on lab pages.
import express, { type Router } from 'express';

import type { Lab } from '../labs/schema.ts';
import { formatJoinCode } from '../trainings/join-code.ts';
import type { Training } from '../trainings/training-store.ts';
import type { Trainings } from '../trainings/trainings.ts';
import { learnerOf } from './cookies.ts';

export function createTrainingRouter(deps: {
  trainings: Trainings;
  labs: Map<string, Lab>;
}): Router {
  const { trainings, labs } = deps;
  const router = express.Router();
  router.use(express.json({ limit: '4kb' }));

  router.post('/join', (request, response) => {
    const learnerId = learnerOf(request, response);
    const training = trainings.join(request.body?.code, request.body?.name, learnerId);
    response.status(201).json(describeForLearner(training, labs));
  });

  router.get('/mine', (request, response) => {
    const learnerId = learnerOf(request, response);
    const training = trainings.store.openTrainingOf(learnerId);
    response.json({ training: training ? describeForLearner(training, labs) : null });
  });

  return router;
}

/** What a learner sees of a training: its name, its labs in order, its end. Never other learners. */
function describeForLearner(training: Training, labs: Map<string, Lab>) {
  return {
    id: training.id,
    name: training.name,
    code: formatJoinCode(training.joinCode),
    endsAt: new Date(training.endsAt).toISOString(),
    labs: training.labs.map((id) => ({
      id,
      title: labs.get(id)?.title ?? id,
      url: `/labs/${id}/`,
    })),
  };
}
