"""View classification stage: vocabulary, classifier backends, training and the per-clip stage.

Public entry points: :func:`load_vocabulary`, :func:`load_classifier`, :func:`train_view_model` and
:func:`predict_clips`. Importing this package imports torch but not transformers or timm.
"""

from echoground.views.checkpoint import CheckpointError, load_classifier
from echoground.views.classifier import ViewClassifier
from echoground.views.predict import UNCERTAIN, predict_clips, predict_files
from echoground.views.preprocess import ClipFramesError
from echoground.views.train import TrainConfig, train_view_model
from echoground.views.vocabulary import UnknownViewError, Vocabulary, load_vocabulary

__all__ = [
    "UNCERTAIN",
    "CheckpointError",
    "ClipFramesError",
    "TrainConfig",
    "UnknownViewError",
    "ViewClassifier",
    "Vocabulary",
    "load_classifier",
    "load_vocabulary",
    "predict_clips",
    "predict_files",
    "train_view_model",
]
