"""A BERT classifier that reads the mean of the token vectors instead of the [CLS] pooler.

Encoders trained for sentence embeddings with mean pooling (multilingual-e5) carry no pooler
weights: `BertForSequenceClassification` would classify the first token through a randomly
initialised pooler and learns far more slowly. This head averages the last hidden states over
the attention mask, as the encoder was trained, and applies one linear layer, which also makes a
frozen encoder plus a logistic regression per label exactly this model.

The class is plain `transformers` code saved with `save_pretrained`; `ereignis` loads it by the
`architectures` entry of `config.json` (a plain `AutoModelForSequenceClassification` does not know it).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class BertMeanPoolingForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        """The mean-pooled article vector the head reads."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        logits = self.classifier(self.dropout(self.embed(input_ids, attention_mask, token_type_ids=token_type_ids)))
        loss = None
        if labels is not None:
            if self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


CUSTOM_ARCHITECTURES = {cls.__name__: cls for cls in (BertMeanPoolingForSequenceClassification,)}
