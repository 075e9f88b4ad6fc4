"""Campaigns: who gets which coupon, who is held out, what it should cost and earn, and what it did.

:mod:`~pipeline.campaign.lists` builds a campaign list from an audience (segment, cluster, churn band, saved
selection) with the coupon policy and sums it up; :mod:`~pipeline.campaign.control` owns the control-group rule
(also used by the scoring service); :mod:`~pipeline.campaign.results` measures treated against control after the
send date; :mod:`~pipeline.campaign.asof` the per-customer table as of the send date, which audiences are chosen
from; :mod:`~pipeline.campaign.saved` keeps campaigns in the workspace; :mod:`~pipeline.campaign.catalogue`
the workspace's coupon catalogue. This file re-exports the public API.
"""
from __future__ import annotations

from pipeline.campaign.asof import CampaignAudience, campaign_audience, churn_rule
from pipeline.campaign.catalogue import (CATALOGUE_DOC, reset_workspace_catalogue, save_workspace_catalogue,
                                         workspace_catalogue)
from pipeline.campaign.control import check_share, control_mask, in_control_group
from pipeline.campaign.lists import (CAMPAIGN_COLUMNS, CONTROL_COUPON, CampaignTotals, campaign_list,
                                     campaign_summary, campaign_totals, learned_batch, select_customers)
from pipeline.campaign.results import (MIN_GROUP, CampaignResults, campaign_results, newcombe_interval,
                                       read_campaign_list, redeemed_coupons, welch_interval, wilson_interval)
from pipeline.campaign.saved import (SavedCampaign, campaign_id_for, delete_campaign, list_campaigns, load_campaign,
                                     save_campaign)

__all__ = [
    "in_control_group", "control_mask", "check_share",
    "CampaignAudience", "campaign_audience", "churn_rule",
    "CAMPAIGN_COLUMNS", "CONTROL_COUPON", "select_customers", "campaign_list", "learned_batch", "campaign_summary",
    "CampaignTotals", "campaign_totals",
    "CampaignResults", "campaign_results", "redeemed_coupons", "MIN_GROUP", "wilson_interval", "newcombe_interval", "welch_interval",
    "read_campaign_list",
    "SavedCampaign", "campaign_id_for", "save_campaign", "list_campaigns", "load_campaign", "delete_campaign",
    "CATALOGUE_DOC", "workspace_catalogue", "save_workspace_catalogue", "reset_workspace_catalogue",
]
